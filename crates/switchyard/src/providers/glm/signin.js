// Fills GLM's email sign-in on /auth (behavior-spec: wait for `.loginFormUni`, press its
// second button, the email login; fill `input[type=email]` and `input[type=password]`; press
// `button[type=submit]`). The real site then shows a CAPTCHA that a person must solve; the
// lane's ready check waits for the chat box either way. Waits for the form's error otherwise:
// on success the page goes to the chat, which ends this script's context.
const form = await sy.until('the GLM sign-in form', () => sy.first('.loginFormUni'), ARGS.timeout_ms);
const buttons = sy.all('button', form).filter(sy.visible);
if (buttons.length >= 2 && !sy.first('input[type=email]', form)) buttons[1].click();
const email = await sy.until('the email field', () => sy.first('input[type=email]'), ARGS.timeout_ms);
const pass = sy.first('input[type=password]');
if (!pass) return { state: 'no_form' };
sy.fill(email, ARGS.email);
sy.fill(pass, ARGS.password);
const submit = sy.first('button[type=submit]');
if (!submit) return { state: 'no_form' };
submit.click();
const message = await sy.until(
  'the sign-in to finish',
  () => {
    const e = sy.first('[role=alert]');
    return e && e.textContent.trim() ? e.textContent.trim() : null;
  },
  ARGS.timeout_ms,
);
return { state: 'refused', message };
