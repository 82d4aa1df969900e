// Waits until the GLM app shows its chat box or a "Sign in" control; closes dialogs it meets.
const state = await sy.until(
  'the GLM chat box or a "Sign in" button',
  () => {
    for (const b of sy.all('button[data-dialog-close]')) if (sy.visible(b)) b.click();
    if (sy.exactText('button, a, [role=button]', 'Sign in')) return 'auth';
    if (sy.hook('chat_box')) return 'chat';
    return null;
  },
  ARGS.timeout_ms,
);
return { state, lang: document.documentElement.lang || '' };
