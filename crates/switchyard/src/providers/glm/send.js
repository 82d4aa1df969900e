// Presses Send once it is enabled.
sy.checkTyped(sy.first('textarea#chat-input'), ARGS.prompt_len);
const send = await sy.enabled('the Send button to enable', 'button#send-message-button', ARGS.step_ms);
send.click();
return '';
