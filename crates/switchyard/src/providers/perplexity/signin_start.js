// Perplexity's sign-in by an emailed code, step one (provider-wire-formats §6.1): the email
// field (`input[placeholder='Enter your email']`, else `input[name=email]`; opened with the
// "Sign In" label first when it is not shown), ARGS.email into it, then the button whose first
// span reads "Continue with email". Answers `sent` once the page shows `h2` "Check your email",
// `refused` with the site's message, or `no_form`.
const EMAIL = "input[placeholder='Enter your email'], input[name=email]";
const label = () =>
  sy
    .all('div, button, a, span')
    .find((el) => sy.visible(el) && el.children.length === 0 && el.textContent.trim() === 'Sign In');
// The app shows its signed-out controls once it has read the session itself.
const found = await sy.until('the email field or "Sign In"', () => sy.first(EMAIL) || label(), ARGS.timeout_ms);
let input = found.matches(EMAIL) ? found : null;
if (!input) {
  found.click();
  input = await sy.until('the email field', () => sy.first(EMAIL), ARGS.timeout_ms);
}
sy.fill(input, ARGS.email);
const button = sy
  .all('button')
  .find((b) => sy.visible(b) && b.querySelector('span')?.textContent.trim() === 'Continue with email');
if (!button) return { state: 'no_form' };
button.click();
const outcome = await sy.until(
  'the site to send the code',
  () => {
    if (sy.all('h2').some((h) => sy.visible(h) && h.textContent.trim() === 'Check your email')) {
      return { state: 'sent' };
    }
    const e = sy.first('[role=alert]');
    return e && e.textContent.trim() ? { state: 'refused', message: e.textContent.trim() } : null;
  },
  ARGS.timeout_ms,
);
return outcome;
