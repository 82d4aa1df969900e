// Opens a new chat, sets the model type and the DeepThink / Search toggles, and focuses the
// empty chat box so the prompt can be typed with Input.insertText. With ARGS.fresh the page
// already shows a new chat (prepared, or just loaded): no "New chat" while its box is empty.
// Hooks: hooks.js.
const emptyBox = () => {
  const t = sy.hook('chat_box');
  return t && t.value === '' ? t : null;
};
if (!(ARGS.fresh && emptyBox())) {
  const newChat = sy.hook('new_chat');
  if (!newChat) throw new Error('the "New chat" button was not found');
  newChat.click();
}
const box = await sy.until('an empty chat box after "New chat"', emptyBox, ARGS.step_ms);

// Model type: the radio picker, or the legacy inline picker.
const checked = (el) => el.getAttribute('aria-checked') === 'true' || el.classList.contains('_31a22b0');
const types = ARGS.expert ? ['expert'] : ['default', 'instant', 'instant-v3'];
let option = null;
for (const t of types) {
  option = modelOption(t);
  if (option) break;
}
if (!option && ARGS.expert) throw new Error('the Expert model option was not found');
if (option && !checked(option)) {
  option.click();
  await sy.until('the model type to switch', () => checked(option), ARGS.step_ms);
}

// Toggles: selected = class ds-toggle-button--selected.
for (const [label, name, on] of [['DeepThink', 'deep_think', ARGS.thinking], ['Search', 'search', ARGS.search]]) {
  const toggle = sy.hook(name);
  if (!toggle) {
    if (on) throw new Error(`the ${label} toggle was not found`);
    continue;
  }
  const isOn = () => toggle.classList.contains('ds-toggle-button--selected');
  if (isOn() !== on) {
    toggle.click();
    await sy.until(`${label} to turn ${on ? 'on' : 'off'}`, () => isOn() === on, ARGS.step_ms);
  }
}

box.focus();
box.select();
return document.activeElement === box;
