// Blocked-Response Handling (provider-wire-formats §8.5), the page part of one nudge: once the
// blocked run is over, hover the latest model turn, open its editor (`button.toggle-edit-button`),
// replace its text with ARGS.replacement (the value setter and input events), save with
// Ctrl+Enter, and focus the empty composer for the nudge message. Returns whether the composer
// has the focus. Hooks: hooks.js.
const idle = () => {
  const run = sy.hook('send');
  const label = run ? [run.textContent, run.getAttribute('aria-label')].join(' ') : '';
  return !/stop/i.test(label);
};
const turn = await sy.until(
  'the blocked answer to show',
  () => {
    const turns = sy.all('.chat-turn-container.model');
    const last = turns[turns.length - 1];
    return last && idle() ? last : null;
  },
  ARGS.step_ms,
);
turn.dispatchEvent(new MouseEvent('mouseover', { bubbles: true }));
turn.dispatchEvent(new MouseEvent('mouseenter'));
const edit = await sy.until('the turn\'s edit button', () => sy.first('button.toggle-edit-button', turn), ARGS.step_ms);
edit.click();
const editor = await sy.until('the turn editor', () => sy.first('textarea', turn), ARGS.step_ms);
sy.fill(editor, ARGS.replacement);
editor.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', code: 'Enter', ctrlKey: true, bubbles: true }));
await sy.until(
  `the turn to read ${JSON.stringify(ARGS.replacement)}`,
  () => !sy.first('textarea', turn) && turn.textContent.trim() === ARGS.replacement,
  ARGS.step_ms,
);
const box = sy.hook('chat_box');
if (!box) throw new Error('the composer was not found');
if (box.value !== '') sy.fill(box, '');
box.focus();
return document.activeElement === box;
