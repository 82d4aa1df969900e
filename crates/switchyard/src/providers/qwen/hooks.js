// Qwen's page hooks, each found in more than one way where the site allows: text or role
// first, class names as a fallback. The driver scripts and `switchyard doctor` both use this
// table.
const HOOKS = {
  chat_box: [
    { how: 'textarea.message-input-textarea', find: () => sy.first('textarea.message-input-textarea') },
    {
      how: 'the only visible textarea',
      find: () => {
        const boxes = sy.all('textarea').filter(sy.visible);
        return boxes.length === 1 ? boxes[0] : null;
      },
    },
  ],
  // The sidebar entry "New Chat" (its parent takes the click), else the best-scored element
  // whose text says "new chat" and not community / discover / explore.
  new_chat: [
    {
      how: 'div.sidebar-entry-fixed-list-content "New Chat" (its parent)',
      find: () => {
        const label = sy.all('div.sidebar-entry-fixed-list-content').find(
          (el) => sy.visible(el) && /^new chat$/i.test(el.textContent.trim()),
        );
        return label ? label.parentElement : null;
      },
    },
    {
      how: 'the element whose own text is "New Chat"',
      find: () =>
        sy
          .all('button, a, [role=button], div, span')
          .filter(
            (el) =>
              sy.visible(el) &&
              /new chat/i.test(el.textContent.trim()) &&
              !/community|discover|explore/i.test(el.textContent) &&
              el.textContent.trim().length < 40,
          )
          .sort((a, b) => a.textContent.length - b.textContent.length)[0] || null,
    },
  ],
  // Its parent opens the model list.
  model_picker: [
    {
      how: "the parent of [class*='model-selector-text']",
      find: () => {
        const text = sy.first("[class*='model-selector-text']");
        return text ? text.parentElement : null;
      },
    },
  ],
  thinking: [
    {
      how: 'span.ant-select-selection-item:has(div.qwen-select-thinking-label)',
      find: () => sy.first('span.ant-select-selection-item:has(div.qwen-select-thinking-label)'),
    },
  ],
  // The mode menu's trigger; its current mode shows "Search" while web search is on.
  search: [{ how: 'div.mode-select', find: () => sy.first('div.mode-select') }],
  // The Send button only appears once the chat box holds text; until then its slot stands for
  // it (what `switchyard doctor` sees on an empty chat). send.js waits for the button itself.
  send: [
    {
      how: 'div.chat-prompt-send-button button (its slot while the chat box is empty)',
      find: () => {
        const slot = sy.first('div.chat-prompt-send-button') || document.querySelector('div.chat-prompt-send-button');
        if (!slot) return null;
        const button = sy.all('button', slot).find((b) => sy.visible(b) && !b.classList.contains('stop-button'));
        return button || (slot.querySelector('button.stop-button') ? null : slot);
      },
    },
  ],
  stop: [
    {
      how: 'div.chat-prompt-send-button button.stop-button',
      find: () => sy.first('div.chat-prompt-send-button button.stop-button'),
    },
    { how: 'button.stop-button', find: () => sy.first('button.stop-button') },
  ],
};
