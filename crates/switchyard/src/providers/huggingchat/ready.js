// Waits until HuggingChat shows its chat box. A sign-in form, a "Start chatting" gate or a
// "Sign in" link without a chat box means signed out. A detour to /welcome goes back to the
// chat.
const state = await sy.until(
  'the HuggingChat chat box',
  () => {
    if (location.pathname.startsWith('/welcome')) {
      location.href = '/chat/';
      return null;
    }
    if (sy.hook('chat_box')) return 'chat';
    if (sy.first('input[name=username]') && sy.first('input[name=password]')) return 'auth';
    if (sy.exactText('button', 'Start chatting') || sy.exactText('a', 'Sign in')) return 'auth';
    return null;
  },
  ARGS.timeout_ms,
);
return { state, lang: document.documentElement.lang || '' };
