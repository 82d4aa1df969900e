// Presses Send once it is enabled and returns its look, so Stop can be told apart later (the
// same control turns into Stop while the answer streams).
const SEND =
  'div.ds-icon-button._52c986b[role=button], [role=button].ds-button._52c986b, ' +
  '.ds-button._52c986b.ds-button--circle';
sy.checkTyped(sy.first('textarea#chat-input, textarea[placeholder*="DeepSeek"]'), ARGS.prompt_len);
const send = await sy.enabled('the Send button to enable', SEND, ARGS.step_ms);
const signature = send.innerHTML;
send.click();
return signature;
