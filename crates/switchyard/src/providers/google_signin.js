// One step of Google's sign-in (provider-wire-formats §4.1, §8.1) on whichever of its pages is
// showing, recognised by its fields and texts (never by the host): the identifier
// (`input#identifierId`, type email) or the password (`input[name=Passwd]`) is filled with
// ARGS.email / ARGS.password and submitted with Enter after a short, varied pause, as a person
// would (Next if Enter does nothing); a consent button (Continue, Continue as …, Allow) is
// pressed. A submit ends with the page (this script's context ends); the driver then runs the
// script again on the next page. Answers:
// - { state: 'refused', message }: Google's error text under a field (wrong password, unknown
//   account);
// - { state: 'manual', message }: a step only a person can do (2-Step Verification, "Check your
//   phone", a code, a passkey);
// - { state: 'other' }: none of Google's pages (back on the site, or the popup's last page);
// - { state: 'stuck', message }: a submit that neither left the page nor showed an error.
const SECOND_STEP =
  /2-Step Verification|Check your phone|Verify it['’]s you|Confirm it['’]s you|Enter the code|Get a verification code|Use your passkey|security key|Confirm your recovery/i;
const bodyText = () => (document.body ? document.body.innerText : '');
const errorText = () => {
  const shown = sy
    .all('[aria-live=assertive], [aria-live=polite], div.o6cuMc, div.Ekjuhf')
    .filter((el) => sy.visible(el) && el.textContent.trim());
  return shown.length ? shown[0].textContent.trim() : null;
};
const identifierField = () =>
  sy.first('input#identifierId') || sy.first('input[type=email][name=identifier]') || sy.first('input[type=email]');
const passwordField = () => sy.first('input[name=Passwd]') || sy.first('input[type=password]');
const consentButton = () =>
  sy
    .all('button, [role=button]')
    .filter(sy.visible)
    .find((b) => /^(continue|continue as\b.*|allow)$/i.test(b.textContent.trim())) || null;
const nextButton = () =>
  sy.first('#identifierNext button, #passwordNext button') ||
  sy.all('button, [role=button]').filter(sy.visible).find((b) => b.textContent.trim() === 'Next') ||
  null;
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms + Math.random() * ms));
const secondStep = () => {
  const heading = sy.first('h1');
  const sub = sy.first('h2');
  return [heading && heading.textContent.trim(), sub && sub.textContent.trim()].filter(Boolean).join(': ') ||
    'a confirmation Google asks for';
};

// What the page is, once it has loaded: one of Google's steps, or (after 1.5 s of nothing
// recognisable) another page.
let since = null;
const seen = await sy.until(
  "a page of Google's sign-in",
  () => {
    if (document.readyState !== 'complete') return null;
    if (SECOND_STEP.test(bodyText())) return 'second';
    if (errorText() && (identifierField() || passwordField())) return 'error';
    if (passwordField()) return 'password';
    if (identifierField()) return 'identifier';
    if (consentButton()) return 'consent';
    since = since || Date.now();
    return Date.now() - since >= 1500 ? 'other' : null;
  },
  ARGS.step_ms,
);
if (seen === 'other') return { state: 'other' };
if (seen === 'second') {
  return { state: 'manual', message: `Google asks for a second step (${secondStep()})` };
}
if (seen === 'error') return { state: 'refused', message: errorText() };
if (seen === 'consent') {
  await pause(200);
  consentButton().click();
  // The page goes on (this context ends), or shows why not.
  const message = await sy.until('Google to take the consent', errorText, ARGS.step_ms).catch(() => null);
  return message ? { state: 'refused', message } : { state: 'stuck', message: 'the consent page took no click' };
}

// Fill the field, pause, press Enter; the page goes on (this context ends) or shows an error.
const field = seen === 'password' ? passwordField() : identifierField();
await pause(150);
field.focus();
sy.fill(field, seen === 'password' ? ARGS.password : ARGS.email);
await pause(250);
const key = { key: 'Enter', code: 'Enter', keyCode: 13, which: 13, bubbles: true, cancelable: true };
field.dispatchEvent(new KeyboardEvent('keydown', key));
field.dispatchEvent(new KeyboardEvent('keyup', key));
const outcome = () => errorText();
let message = await sy.until('Google to take the ' + seen, outcome, ARGS.step_ms / 2).catch(() => null);
if (!message) {
  const next = nextButton();
  if (next) next.click();
  message = await sy.until('Google to take the ' + seen, outcome, ARGS.step_ms / 2).catch(() => null);
}
if (message) return { state: 'refused', message };
return { state: 'stuck', message: `the ${seen} page took neither Enter nor Next` };
