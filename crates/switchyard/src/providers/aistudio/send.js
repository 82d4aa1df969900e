// Presses Run once the composer holds the prompt and Run is enabled; returns the look of the
// button, which says Stop while the run streams (stop.js compares).
sy.checkTyped(sy.hook('chat_box'), ARGS.prompt_len);
const run = await sy.until(
  'the Run button to enable',
  () => {
    const b = sy.hook('send');
    return b && !sy.disabled(b) ? b : null;
  },
  ARGS.step_ms,
);
const signature = run.outerHTML;
run.click();
return signature;
