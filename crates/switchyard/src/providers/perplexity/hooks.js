// Perplexity's page hooks, each found in more than one way where the site allows: role,
// accessible name or text first, then the site's ids and classes. The driver scripts and
// `switchyard doctor` both use this table. The model picker is not a hook of it: only paid
// accounts have one (prepare.js looks for it there).
const HOOKS = {
  chat_box: [
    { how: 'div[contenteditable=true][role=textbox]', find: () => sy.first('div[contenteditable=true][role=textbox]') },
    { how: '#ask-input', find: () => sy.first('#ask-input[contenteditable=true]') },
    {
      how: 'the only visible div[contenteditable=true]',
      find: () => {
        const boxes = sy.all('div[contenteditable=true]').filter(sy.visible);
        return boxes.length === 1 ? boxes[0] : null;
      },
    },
  ],
  new_chat: [
    { how: "button[aria-label='New Thread']", find: () => sy.first("button[aria-label='New Thread']") },
    { how: 'button "New Thread"', find: () => sy.exactText('button, a, [role=button]', 'New Thread') },
    { how: 'button.new-thread', find: () => sy.first('button.new-thread') },
  ],
  spaces: [
    { how: 'link "Spaces"', find: () => sy.exactText('a', 'Spaces') },
    { how: "a[href='/spaces']", find: () => sy.first("a[href='/spaces']") },
  ],
  mode: [
    {
      how: 'button[aria-haspopup=menu][aria-pressed|data-pressed]',
      find: () => sy.first('button[aria-haspopup=menu][aria-pressed], button[aria-haspopup=menu][data-pressed]'),
    },
  ],
  sources: [
    { how: "button[aria-label='Add files or tools']", find: () => sy.first("button[aria-label='Add files or tools']") },
  ],
  send: [
    { how: "button[type=button][aria-label='Submit']", find: () => sy.first("button[type=button][aria-label='Submit']") },
    { how: "button[aria-label='Submit']", find: () => sy.first("button[aria-label='Submit']") },
  ],
  stop: [
    {
      how: 'button[aria-label*=Stop|Cancel|Interrupt]',
      find: () => sy.first("button[aria-label*='Stop'], button[aria-label*='Cancel'], button[aria-label*='Interrupt']"),
    },
  ],
};

// Spaces mode: the Space leading system messages go to, its instructions field and its limit.
const SPACE_TITLE = 'switchyard';
const INSTRUCTIONS_FIELD = "textarea[aria-label='Input for editing Space answer instructions']";
const SPACE_INSTRUCTIONS_LIMIT = 8000;

// The open menu's items of `role` (menuitemradio, menuitemcheckbox, menuitem).
const menuItems = (role) => sy.all(`[role=${role}]`).filter(sy.visible);
// An item's label without a lock mark.
const itemLabel = (el) => el.textContent.replace(/🔒/g, '').trim();
// Closes an open menu the way a person would.
const escapeMenu = () => {
  const init = { key: 'Escape', code: 'Escape', keyCode: 27, bubbles: true };
  (document.activeElement || document.body).dispatchEvent(new KeyboardEvent('keydown', init));
};
