// DeepSeek's page hooks, each found in more than one way where the site allows: role and
// accessible name or text first, the site's (hashed, often renamed) class names as a fallback.
// The driver scripts and `switchyard doctor` both use this table.
const HOOKS = {
  chat_box: [
    {
      how: 'textarea with placeholder "Message DeepSeek"',
      find: () => sy.all('textarea').find((t) => sy.visible(t) && /DeepSeek/.test(t.placeholder || '')),
    },
    { how: 'textarea#chat-input', find: () => sy.first('textarea#chat-input') },
  ],
  new_chat: [
    {
      how: 'a focusable element with text "New chat"',
      find: () => sy.exactText('[tabindex="0"], [role=button], button, a', 'New chat'),
    },
    {
      how: 'sidebar div._5a8ac7a, else the 2nd .ds-icon-button of div.e5bf614e',
      find: () => {
        const sidebar = document.querySelector('div.dc04ec1d:not(.a02af2e6)');
        const inSidebar = sidebar && sy.first('div._5a8ac7a', sidebar);
        if (inSidebar) return inSidebar;
        const labelled = sy.withText('div[tabindex="0"]', 'New chat', sidebar || document);
        if (labelled) return labelled;
        const strip = document.querySelector('div.e5bf614e');
        return strip ? strip.querySelectorAll('.ds-icon-button')[1] || null : null;
      },
    },
  ],
  model_picker: [
    {
      how: 'role=radiogroup of role=radio options with data-model-type',
      find: () => sy.first('[role=radiogroup] [role=radio][data-model-type]'),
    },
    {
      how: 'options with data-model-type (legacy div._9f2341b._7ac2123)',
      find: () => sy.first('div._9f2341b._7ac2123[data-model-type], [data-model-type]'),
    },
  ],
  deep_think: [
    { how: 'role=button "DeepThink"', find: () => sy.exactText('[role=button]', 'DeepThink') },
    { how: '.ds-toggle-button "DeepThink"', find: () => sy.withText('.ds-toggle-button', 'DeepThink') },
  ],
  search: [
    { how: 'role=button "Search"', find: () => sy.exactText('[role=button]', 'Search') },
    { how: '.ds-toggle-button "Search"', find: () => sy.withText('.ds-toggle-button', 'Search') },
  ],
  // The composer's (hidden) file picker: the send-as-file mode sets `prompt.txt` on it.
  file_input: [
    { how: 'input[type=file]', find: () => document.querySelector('input[type=file]') },
  ],
  // The same control turns into Stop while an answer streams.
  send: [
    {
      how: "the chat box's last icon-only role=button",
      find: () => {
        const box = sy.hook('chat_box');
        const composer = box && sy.around(box.parentElement, '[role=button]');
        if (!composer) return null;
        const icons = sy.all('[role=button]', composer).filter((b) => sy.visible(b) && sy.iconOnly(b));
        return icons[icons.length - 1] || null;
      },
    },
    {
      how: '[role=button].ds-button._52c986b, div.ds-icon-button._52c986b',
      find: () =>
        sy.first('[role=button].ds-button._52c986b, .ds-button._52c986b.ds-button--circle, div.ds-icon-button._52c986b'),
    },
  ],
};
// Model type options: the radio picker, else any element with that data-model-type.
const modelOption = (type) =>
  document.querySelector(`div[role=radiogroup] div[role=radio][data-model-type="${type}"]`) ||
  document.querySelector(`div._9f2341b._7ac2123[data-model-type="${type}"], [data-model-type="${type}"]`);
