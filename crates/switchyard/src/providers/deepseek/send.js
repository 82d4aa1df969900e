// Presses Send once it is enabled and returns its look, so Stop can be told apart later (the
// same control turns into Stop while the answer streams). Disabled: class ds-button--disabled
// (or aria-disabled and the like, see sy.disabled).
await sy.typed(() => sy.hook('chat_box'), ARGS.prompt_len, ARGS.typed_ms);
const send = await sy.until(
  'the Send button to enable',
  () => {
    const b = sy.hook('send');
    return b && !sy.disabled(b) ? b : null;
  },
  ARGS.step_ms,
);
const signature = send.innerHTML;
send.click();
return signature;
