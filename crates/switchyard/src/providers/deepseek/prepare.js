// Opens a new chat, sets the model type and the DeepThink / Search toggles, and focuses the
// empty chat box so the prompt can be typed with Input.insertText.
const CHAT = 'textarea#chat-input, textarea[placeholder*="DeepSeek"]';

// New chat: the sidebar button when the sidebar is open, else the quick-action strip.
const sidebar = document.querySelector('div.dc04ec1d:not(.a02af2e6)');
let newChat =
  (sidebar && (sy.first('div._5a8ac7a', sidebar) || sy.withText('div[tabindex="0"]', 'New chat', sidebar))) ||
  sy.withText('div[tabindex="0"]', 'New chat');
if (!newChat) {
  const strip = document.querySelector('div.e5bf614e');
  newChat = strip ? strip.querySelectorAll('.ds-icon-button')[1] || null : null;
}
if (!newChat) throw new Error('the "New chat" button was not found');
newChat.click();
const box = await sy.until(
  'an empty chat box after "New chat"',
  () => {
    const t = sy.first(CHAT);
    return t && t.value === '' ? t : null;
  },
  ARGS.step_ms,
);

// Model type: the radio picker, or the legacy inline picker.
const checked = (el) => el.getAttribute('aria-checked') === 'true' || el.classList.contains('_31a22b0');
const types = ARGS.expert ? ['expert'] : ['default', 'instant', 'instant-v3'];
let option = null;
for (const t of types) {
  option =
    document.querySelector(`div[role=radiogroup] div[role=radio][data-model-type="${t}"]`) ||
    document.querySelector(`div._9f2341b._7ac2123[data-model-type="${t}"]`);
  if (option) break;
}
if (!option && ARGS.expert) throw new Error('the Expert model option was not found');
if (option && !checked(option)) {
  option.click();
  await sy.until('the model type to switch', () => checked(option), ARGS.step_ms);
}

// Toggles: selected = class ds-toggle-button--selected.
for (const [label, on] of [['DeepThink', ARGS.thinking], ['Search', ARGS.search]]) {
  const toggle = sy.withText('.ds-toggle-button', label) || sy.exactText('[role=button]', label);
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
