// Waits until the Qwen app shows its chat box, or its sign-in page (/auth and its email and
// password form); closes the first-run dialog it meets.
const state = await sy.until(
  'the Qwen chat box or its sign-in page',
  () => {
    for (const dialog of sy.all('[role=dialog]')) {
      const ok = [...dialog.querySelectorAll('button')].find((b) => /^(got it|ok|i know)$/i.test(b.textContent.trim()));
      if (ok) ok.click();
    }
    if (location.pathname.startsWith('/auth') || sy.first('.qwenchat-auth-pc-input-items')) return 'auth';
    if (sy.hook('chat_box')) return 'chat';
    return null;
  },
  ARGS.timeout_ms,
);
return { state, lang: document.documentElement.lang || '' };
