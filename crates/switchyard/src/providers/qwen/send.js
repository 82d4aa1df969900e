// Presses Send, which appears once the chat box holds the prompt.
await sy.typed(() => sy.hook('chat_box'), ARGS.prompt_len, ARGS.typed_ms);
const send = await sy.until(
  'the Send button to appear',
  () => {
    // The button itself, not its empty slot.
    const b = sy.hook('send');
    return b && b.tagName === 'BUTTON' && !sy.disabled(b) ? b : null;
  },
  ARGS.step_ms,
);
send.click();
return '';
