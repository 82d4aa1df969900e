// HuggingChat's page hooks, each found in more than one way where the site allows: role,
// accessible name or text first, then the site's attributes. The driver scripts and
// `switchyard doctor` both use this table.
const HOOKS = {
  chat_box: [
    { how: "textarea[placeholder='Ask anything']", find: () => sy.first("textarea[placeholder='Ask anything']") },
    { how: 'the only visible textarea', find: () => { const t = sy.all('textarea').filter(sy.visible); return t.length === 1 ? t[0] : null; } },
  ],
  new_chat: [
    { how: 'link "New Chat"', find: () => sy.exactText('a, button', 'New Chat') },
    { how: "a[href$='/chat/']", find: () => sy.first("a[href$='/chat/']") },
  ],
  model_settings: [
    { how: "a[href*='/settings/chat/'] \"Model:\"", find: () => sy.withText("a[href*='/settings/chat/']", 'Model:') },
    { how: "a[href*='/settings/']", find: () => sy.withText("a[href*='/settings/']", 'Model') },
  ],
  effort: [
    { how: "button[aria-label='Select thinking effort']", find: () => sy.first("button[aria-label='Select thinking effort']") },
    { how: 'button "Effort: …"', find: () => sy.withText('button', 'Effort:') },
  ],
  attachment: [
    { how: "button[aria-label='Add attachment']", find: () => sy.first("button[aria-label='Add attachment']") },
  ],
  send: [
    { how: "button[aria-label='Send message']", find: () => sy.first("button[aria-label='Send message']") },
  ],
  stop: [
    { how: "button[aria-label='Stop generating']", find: () => sy.first("button[aria-label='Stop generating']") },
    {
      how: 'button[aria-label*=Stop|Cancel|Interrupt]',
      find: () => sy.first("button[aria-label*='Stop'], button[aria-label*='Cancel'], button[aria-label*='Interrupt']"),
    },
  ],
};

// The model list the site serves, read from its model settings and kept for the tab.
const MODELS_KEY = 'switchyard-huggingchat-models';
// The system prompt last applied per model, so the settings open only when it changes.
const SYSTEM_KEY = 'switchyard-huggingchat-system';
// A real click at the element's centre, as the reference clicks.
const press = (el) => {
  const r = el.getBoundingClientRect();
  const at = { bubbles: true, cancelable: true, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 };
  el.dispatchEvent(new PointerEvent('pointerdown', at));
  el.dispatchEvent(new MouseEvent('mousedown', at));
  el.dispatchEvent(new PointerEvent('pointerup', at));
  el.dispatchEvent(new MouseEvent('mouseup', at));
  el.click();
};
const escapeMenu = () => {
  const init = { key: 'Escape', code: 'Escape', keyCode: 27, bubbles: true };
  (document.activeElement || document.body).dispatchEvent(new KeyboardEvent('keydown', init));
};
