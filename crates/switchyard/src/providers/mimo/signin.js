// Fills the Xiaomi Account password login the MiMo app sent a signed-out visitor to
// (account.xiaomi.com/fe/service/login/password on the site): the account (email, phone or
// Xiaomi Account) in `input[name=account]` (else the login's first text input), the password
// in `input[name=password]`, then "Sign in". Then waits: on success the page follows the
// service's callback back to the app (a navigation ends this script's context), or the form
// shows the site's error.
const form = await sy.until(
  'the Xiaomi Account login form',
  () => {
    const pass = sy.first('input[name=password], input[type=password]');
    if (!pass) return null;
    const root = pass.form || document;
    const user =
      sy.first('input[name=account]', root) ||
      sy.all('input[type=text], input[type=email], input[type=tel], input:not([type])', root).find(sy.visible);
    return user ? { user, pass, root } : null;
  },
  ARGS.timeout_ms,
);
sy.fill(form.user, ARGS.email);
sy.fill(form.pass, ARGS.password);
const submit =
  sy.exactText('button, [role=button]', 'Sign in', form.root) ||
  sy.first('button[type=submit]', form.root);
if (!submit) return { state: 'no_form' };
submit.click();
const outcome = await sy.until(
  'the sign-in to finish',
  () => {
    if (!sy.first('input[name=password], input[type=password]')) return { state: 'submitted' };
    const e = sy.first('[role=alert], .mi-error', form.root);
    const message = e && e.textContent.trim();
    return message ? { state: 'refused', message } : null;
  },
  ARGS.timeout_ms,
);
return outcome;
