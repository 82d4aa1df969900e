// Presses Send once it is enabled and returns its look, so Stop can be told apart later (the
// same control turns into Stop while the answer streams).
const SEND =
  'div.ds-icon-button._52c986b[role=button], [role=button].ds-button._52c986b, ' +
  '.ds-button._52c986b.ds-button--circle';
const box = sy.first('textarea#chat-input, textarea[placeholder*="DeepSeek"]');
if (!box || box.value.length !== ARGS.prompt_len) {
  throw new Error(
    `the chat box holds ${box ? box.value.length : 'no'} characters, expected ${ARGS.prompt_len}`,
  );
}
const send = await sy.until(
  'the Send button to enable',
  () => {
    const b = sy.first(SEND);
    return b && !sy.disabled(b) ? b : null;
  },
  ARGS.step_ms,
);
const signature = send.innerHTML;
send.click();
return signature;
