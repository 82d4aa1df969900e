// Perplexity's sign-in by an emailed code, step two: ARGS.code, one digit per input
// (`input[aria-label='Digit N of 6']`), then "Continue" when the site did not go on by itself.
// A right code loads the app (this script's context ends with it; the ready check decides); a
// wrong one shows the site's message (`refused`).
const digit = (n) => sy.first(`input[aria-label='Digit ${n} of 6']`);
if (!digit(1)) return { state: 'no_form' };
const code = String(ARGS.code);
for (let i = 0; i < 6; i++) {
  const box = digit(i + 1);
  if (!box) return { state: 'no_form' };
  sy.fill(box, code[i]);
}
const go = sy.exactText('button', 'Continue');
if (go && !sy.disabled(go)) go.click();
const message = await sy.until(
  'the sign-in to finish',
  () => {
    const e = sy.first('[role=alert]');
    return e && e.textContent.trim() ? e.textContent.trim() : null;
  },
  ARGS.timeout_ms,
);
return { state: 'refused', message };
