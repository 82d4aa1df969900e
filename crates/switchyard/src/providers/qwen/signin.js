// Fills Qwen's sign-in on /auth (provider-wire-formats §5.1: wait for
// `.qwenchat-auth-pc-input-items`, fill its first non-password input, the email, and the
// password, click `button.qwenchat-auth-pc-submit-button`). Then waits: on success the page
// leaves /auth for the chat (a navigation ends this script's context), or the site shows its
// error in a toast.
const items = await sy.until(
  'the Qwen sign-in form (.qwenchat-auth-pc-input-items)',
  () => sy.first('.qwenchat-auth-pc-input-items'),
  ARGS.timeout_ms,
);
const inputs = sy.all('input', items).filter(sy.visible);
const email = inputs.find((i) => i.type !== 'password');
const pass = inputs.find((i) => i.type === 'password');
if (!email || !pass) return { state: 'no_form' };
sy.fill(email, ARGS.email);
sy.fill(pass, ARGS.password);
const submit = sy.first('button.qwenchat-auth-pc-submit-button');
if (!submit) return { state: 'no_form' };
submit.click();
const outcome = await sy.until(
  'the sign-in to finish',
  () => {
    if (!location.pathname.startsWith('/auth')) return { state: 'submitted' };
    const e = sy.first('.ant-message-notice-content, [role=alert]');
    const message = e && e.textContent.trim();
    return message ? { state: 'refused', message } : null;
  },
  ARGS.timeout_ms,
);
return outcome;
