// Presses Send once it is enabled.
await sy.typed(() => sy.hook('chat_box'), ARGS.prompt_len, ARGS.typed_ms);
const send = await sy.until(
  'the Send button to enable',
  () => {
    const b = sy.hook('send');
    return b && !sy.disabled(b) ? b : null;
  },
  ARGS.step_ms,
);
send.click();
return '';
