// Presses Send once it is enabled; returns the look of the control, which turns into Stop
// while the answer streams (stop.js compares).
await sy.typed(() => sy.hook('chat_box'), ARGS.prompt_len, ARGS.typed_ms);
const send = await sy.until(
  'the Send control to enable',
  () => {
    const c = sy.hook('send');
    return c && !sy.disabled(c) ? c : null;
  },
  ARGS.step_ms,
);
const signature = send.innerHTML;
send.click();
return signature;
