// Presses Send once it is enabled.
const box = sy.first('textarea#chat-input');
if (!box || box.value.length !== ARGS.prompt_len) {
  throw new Error(
    `the chat box holds ${box ? box.value.length : 'no'} characters, expected ${ARGS.prompt_len}`,
  );
}
const send = await sy.until(
  'the Send button to enable',
  () => {
    const b = sy.first('button#send-message-button');
    return b && !sy.disabled(b) ? b : null;
  },
  ARGS.step_ms,
);
send.click();
return '';
