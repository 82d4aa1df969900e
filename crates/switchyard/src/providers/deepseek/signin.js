// Fills DeepSeek's sign-in form with ARGS.email / ARGS.password and presses "Log in"
// (behavior-spec: the username field is `autocomplete=username`, else a text input whose
// placeholder names email or phone, else the first text input). Then waits: the page goes to
// the chat on success (this script's context ends with it), or the form shows an error.
const wrap =
  sy.first('.ds-sign-in-form__main, .ds-sign-in-form-wrapper, .ds-auth-form-wrapper') || document;
const texts = sy.all('input[type=text], input[type=email], input:not([type])', wrap).filter(sy.visible);
const user =
  sy.first('input[autocomplete=username]', wrap) ||
  texts.find((i) => /email|phone/i.test(i.placeholder || '')) ||
  texts[0];
const pass = sy.first('input[type=password]', wrap);
if (!user || !pass) return { state: 'no_form' };
sy.fill(user, ARGS.email);
sy.fill(pass, ARGS.password);
const button =
  sy.exactText('button, [role=button]', 'Log in', wrap) ||
  sy.first('button.ds-basic-button--primary', wrap);
if (!button) return { state: 'no_form' };
button.click();
const message = await sy.until(
  'the sign-in to finish',
  () => {
    const e = sy.first('[role=alert], .ds-sign-in-form__error', wrap);
    return e && e.textContent.trim() ? e.textContent.trim() : null;
  },
  ARGS.timeout_ms,
);
return { state: 'refused', message };
