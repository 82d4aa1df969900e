// Opens Kimi's login modal (a click on the "Log In" user info, `div.user-info`) and answers
// the box of its Google button (`div.google-login-btn`), which the driver clicks with the
// pointer: Kimi signs in with Google only, in a popup (provider-wire-formats §4.1). Hooks:
// hooks.js.
dismissNotices();
let button = sy.first('div.google-login-btn');
if (!button) {
  const info = sy.first('div.user-info') || sy.first('span.user-name');
  if (!info) return { state: 'no_form' };
  info.click();
  button = await sy.until('the login modal', () => sy.first('div.google-login-btn'), ARGS.step_ms).catch(() => null);
  if (!button) return { state: 'no_form' };
}
button.scrollIntoView({ block: 'center' });
const r = button.getBoundingClientRect();
return { state: 'popup', rect: { x: r.left, y: r.top, width: r.width, height: r.height } };
