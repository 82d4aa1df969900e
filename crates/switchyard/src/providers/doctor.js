// `switchyard doctor`: reports how each hook of the driver's HOOKS table is found on the page.
// ARGS.mode "hooks": every hook but stop, now. ARGS.mode "stop": waits up to ARGS.ms for the
// Stop control while an answer streams (a driver without a stop hook stops with the Send
// control, which then looks different from ARGS.signature).
const report = (hook, ways, found) => ({
  hook,
  way: found ? found.way : null,
  how: found ? found.how : null,
  tried: ways.map((w) => w.how),
});
if (ARGS.mode === 'stop') {
  const own = !!HOOKS.stop;
  const ways = HOOKS.stop || HOOKS.send;
  let found = null;
  try {
    found = await sy.until(
      'the Stop control',
      () => {
        const f = sy.find(ways);
        if (!f || (!own && f.el.innerHTML === ARGS.signature)) return null;
        return own ? f : { ...f, how: f.how + ' (showing Stop)' };
      },
      ARGS.ms,
    );
  } catch (e) {
    found = null;
  }
  return [report('stop', ways, found)];
}
return Object.keys(HOOKS)
  .filter((hook) => hook !== 'stop')
  .map((hook) => report(hook, HOOKS[hook], sy.find(HOOKS[hook])));
