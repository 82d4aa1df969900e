// Presses Run once the composer holds the prompt and Run is enabled; returns the look of the
// button, which says Stop while the run streams (stop.js compares). With ARGS.pointer
// (`humanize_mouse`) nothing is clicked here: the boxes of the composer (the reference refocuses
// it with a real click before Run) and of Run go back for the pointer to click, in order.
await sy.typed(() => sy.hook('chat_box'), ARGS.prompt_len, ARGS.typed_ms);
const run = await sy.until(
  'the Run button to enable',
  () => {
    const b = sy.hook('send');
    return b && !sy.disabled(b) ? b : null;
  },
  ARGS.step_ms,
);
const signature = run.outerHTML;
if (!ARGS.pointer) {
  run.click();
  return signature;
}
const box = (el) => {
  el.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  const r = el.getBoundingClientRect();
  return [r.x, r.y, r.width, r.height];
};
return { signature, clicks: [box(sy.hook('chat_box')), box(run)] };
