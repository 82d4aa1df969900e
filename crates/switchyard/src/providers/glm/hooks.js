// GLM's page hooks, each found in more than one way where the site allows: role and
// accessible name or text first, ids and class names as a fallback. The driver scripts and
// `switchyard doctor` both use this table.
const HOOKS = {
  chat_box: [
    { how: 'textarea#chat-input', find: () => sy.first('textarea#chat-input') },
    {
      how: 'the only visible textarea',
      find: () => {
        const boxes = sy.all('textarea').filter(sy.visible);
        return boxes.length === 1 ? boxes[0] : null;
      },
    },
  ],
  new_chat: [
    {
      how: 'button "New Chat"',
      find: () =>
        sy.all('button').find(
          (b) =>
            sy.visible(b) &&
            (/^new chat$/i.test(b.textContent.trim()) || /^new chat$/i.test(b.getAttribute('aria-label') || '')),
        ) || null,
    },
    {
      how: "button#sidebar-new-chat-button, button[data-scene='chat'], button#new-chat-button",
      find: () =>
        sy.first('#sidebar[data-state="true"] button#sidebar-new-chat-button') ||
        sy.first("button[data-scene='chat']") ||
        sy.first('button#new-chat-button') ||
        sy.first('button#sidebar-new-chat-button'),
    },
  ],
  model_picker: [{ how: 'button.modelSelectorButton', find: () => sy.first('button.modelSelectorButton') }],
  // Way 0 is the effort menu (GLM-5.2 and newer), way 1 the classic switch.
  deep_think: [
    {
      how: 'the "Deep Think" menu trigger div[aria-expanded][data-state]',
      find: () =>
        sy
          .all('div[aria-expanded][data-state][type=button]')
          .find((el) => sy.visible(el) && el.textContent.includes('Deep Think')) || null,
    },
    {
      how: "div[aria-label^='Deep think'] button[data-autothink]",
      find: () => document.querySelector("div[aria-label^='Deep think'] button[data-autothink]"),
    },
  ],
  // No label any more: the button right before the Deep Think control, else the first toggle.
  search: [
    {
      how: 'the button[data-active] right before Deep Think',
      find: () => {
        const dt = sy.find(HOOKS.deep_think);
        for (let el = dt && dt.way === 0 ? dt.el : null; el; el = el.parentElement) {
          const prev = el.previousElementSibling;
          if (prev && prev.matches('button[data-active]')) return prev;
        }
        return null;
      },
    },
    { how: 'the first button[data-active]', find: () => sy.first('button[data-active]') },
  ],
  send: [
    { how: 'button#send-message-button', find: () => sy.first('button#send-message-button') },
    {
      how: "the chat box's last icon-only button",
      find: () => {
        const box = sy.hook('chat_box');
        const composer = box && sy.around(box.parentElement, 'button');
        if (!composer) return null;
        const icons = sy
          .all('button', composer)
          .filter((b) => sy.visible(b) && sy.iconOnly(b) && !b.hasAttribute('data-active'));
        return icons[icons.length - 1] || null;
      },
    },
  ],
  stop: [
    { how: "div[aria-label='Stop'] button", find: () => sy.first("div[aria-label='Stop'] button") },
    { how: "div[aria-label='Stop']", find: () => sy.first("div[aria-label='Stop']") },
  ],
};
