// Waits until the DeepSeek app shows either its chat box or a sign-in form.
const AUTH =
  '.ds-sign-in-form__main, .ds-sign-in-form-wrapper, .ds-auth-form-wrapper, ' +
  '.ds-sign-up-form__main, input[type=password]';
const state = await sy.until(
  'the DeepSeek chat box or sign-in form',
  () => {
    if (/sign[_-]?in/i.test(location.pathname)) return 'auth';
    if (sy.first(AUTH)) return 'auth';
    if (sy.exactText('button, [role=button]', 'Log in') || sy.exactText('button, [role=button]', 'Sign in')) {
      return 'auth';
    }
    if (sy.hook('chat_box')) return 'chat';
    return null;
  },
  ARGS.timeout_ms,
);
return { state, lang: document.documentElement.lang || '' };
