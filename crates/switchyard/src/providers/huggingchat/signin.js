// Fills the Hugging Face login form (provider-wire-formats §7.1: the username **or email** in
// `input[name=username]`, the password in `input[name=password]`, then the submit button
// "Login"). The site's form is posted by the browser and the answer is a new page: the chat on
// success, the form again with the site's error otherwise. So that this script can tell the
// two apart, a form the site leaves to the browser is posted here the same way (the same
// fields, to the form's own action, following the site's redirect), and the page then goes
// where the site sent it; a form the site's own script handles is left to it, and the script
// waits for its error.
const form = await sy.until(
  'the Hugging Face login form (input[name=username] and input[name=password])',
  () => {
    const user = sy.first('input[name=username]');
    const pass = sy.first('input[name=password]');
    return user && pass ? { user, pass } : null;
  },
  ARGS.timeout_ms,
);
sy.fill(form.user, ARGS.email);
sy.fill(form.pass, ARGS.password);
const owner = form.user.form;
const submit =
  sy.exactText('button, input[type=submit]', 'Login', owner || document) ||
  sy.first('button[type=submit], input[type=submit]', owner || document);
if (!submit) return { state: 'no_form' };
const errorText = (root) => {
  const e = [...root.querySelectorAll('.alert-error, [role=alert]')].find((el) => el.textContent.trim());
  return e ? e.textContent.trim() : null;
};
const posted = new Promise((resolve) => {
  // Runs after the site's own handlers (a listener on window, bubbling): a submit nobody
  // handled is the browser's to post, and is posted here instead.
  window.addEventListener(
    'submit',
    (ev) => {
      if (ev.defaultPrevented || ev.target !== owner) return resolve(null);
      ev.preventDefault();
      resolve(
        fetch(owner.action, {
          method: (owner.method || 'POST').toUpperCase(),
          body: new URLSearchParams(new FormData(owner)),
          credentials: 'include',
          redirect: 'follow',
        }),
      );
    },
    { once: true },
  );
});
submit.click();
const resp = await Promise.race([posted, new Promise((r) => setTimeout(() => r(null), 2000))]);
if (resp) {
  const html = await resp.text();
  const page = new DOMParser().parseFromString(html, 'text/html');
  const refused = page.querySelector('input[name=password]') && errorText(page);
  if (refused) return { state: 'refused', message: refused };
  // Where the site sent the browser; the navigation ends this script (answering now would let
  // the ready check meet the login form before the page leaves it).
  location.assign(resp.url);
}
const outcome = await sy.until(
  'the sign-in to finish',
  () => {
    if (!sy.first('input[name=password]')) return { state: 'submitted' };
    const message = errorText(document);
    return message ? { state: 'refused', message } : null;
  },
  ARGS.timeout_ms,
);
return outcome;
