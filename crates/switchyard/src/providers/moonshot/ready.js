// Waits until the Kimi app shows its chat box signed in, or a signed-out state that holds for
// 1.8 s (the login modal or a "Log In" user name, as the reference reads it); dismisses the
// first-run notice on the way. Hooks: hooks.js.
let outSince = null;
const state = await sy.until(
  'the Kimi chat box or its login modal',
  () => {
    dismissNotices();
    if (signedOut()) {
      outSince = outSince || Date.now();
      return Date.now() - outSince >= 1800 ? 'auth' : null;
    }
    outSince = null;
    const box = sy.hook('chat_box');
    return box && box.isContentEditable && !sy.first('div.content.common-notice-dialog') ? 'chat' : null;
  },
  ARGS.timeout_ms,
);
return { state, lang: document.documentElement.lang || '' };
