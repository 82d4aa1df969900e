// Waits until HuggingChat shows its chat box. Signed out: the login form
// (`input[name=username]` and `input[name=password]`), a "Start chatting" gate or a "Sign in"
// link, each checked before the chat box (a guest may see one). Signed in, the site shows the
// account's avatar link (`…/api/users/<name>/avatar?redirect=true`) beside the chat box. A
// detour to /welcome goes back to the chat.
const state = await sy.until(
  'the HuggingChat chat box',
  () => {
    if (location.pathname.startsWith('/welcome')) {
      location.href = '/chat/';
      return null;
    }
    if (sy.first('input[name=username]') && sy.first('input[name=password]')) return 'auth';
    if (sy.exactText('button', 'Start chatting') || sy.exactText('a', 'Sign in')) return 'auth';
    if (sy.hook('chat_box')) return 'chat';
    return null;
  },
  ARGS.timeout_ms,
);
return { state, lang: document.documentElement.lang || '' };
