// Waits until AI Studio shows its composer signed in, or Google's sign-in holds for 1.8 s.
// Google's auth pages count as English (the reference's rule). Hooks: hooks.js.
let outSince = null;
const state = await sy.until(
  'the AI Studio composer or Google sign-in',
  () => {
    if (signedOut()) {
      outSince = outSince || Date.now();
      return Date.now() - outSince >= 1800 ? 'auth' : null;
    }
    outSince = null;
    return sy.hook('chat_box') ? 'chat' : null;
  },
  ARGS.timeout_ms,
);
const lang = state === 'auth' ? 'en' : document.documentElement.lang || '';
return { state, lang };
