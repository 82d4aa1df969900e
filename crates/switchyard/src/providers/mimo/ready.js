// Waits until the MiMo app shows its chat box or its "Log in" entry; dismisses the first-run
// modals (hooks.js) on the way.
const state = await sy.until(
  'the MiMo chat box or a "Log in" button',
  () => {
    dismissModals();
    if (/account\.xiaomi\.com/.test(location.host) || /\/login/.test(location.pathname)) return 'auth';
    if (sy.exactText('button, a, [role=button]', 'Log in') || sy.exactText('button, a, [role=button]', 'Sign in')) {
      return 'auth';
    }
    const box = sy.hook('chat_box');
    if (box && !sy.first("[data-track-id='agreement_confirm_btn']")) return 'chat';
    return null;
  },
  ARGS.timeout_ms,
);
return { state, lang: document.documentElement.lang || '' };
