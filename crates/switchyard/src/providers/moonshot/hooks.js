// Kimi's page hooks (www.kimi.ai), each found in more than one way where the site allows: the
// reference's class names first, then role, accessible name or text. The driver scripts and
// `switchyard doctor` both use this table. Kimi has one composer control for Send and Stop
// (`div.send-button-container`), so there is no stop hook: Stop is that control once it no
// longer looks like Send.
const HOOKS = {
  chat_box: [
    { how: 'div.chat-input-editor[contenteditable]', find: () => sy.first('div.chat-input-editor[contenteditable]') },
    {
      how: 'the only visible [contenteditable][role=textbox]',
      find: () => {
        const boxes = sy.all('[contenteditable][role=textbox]').filter(sy.visible);
        return boxes.length === 1 ? boxes[0] : null;
      },
    },
  ],
  new_chat: [
    { how: 'a[href*="chat_enter_method=new_chat"]', find: () => sy.first('a[href*="chat_enter_method=new_chat"]') },
    { how: 'the link "New Chat"', find: () => sy.exactText('a, [role=button], button', 'New Chat') },
  ],
  model_picker: [
    { how: 'div.current-model', find: () => sy.first('div.current-model') },
    { how: '#v-0-1-menu-trigger', find: () => sy.first('#v-0-1-menu-trigger') },
  ],
  // The toolkit menu, where search is switched on or off.
  search: [
    { how: 'div.toolkit-trigger-btn', find: () => sy.first('div.toolkit-trigger-btn') },
    { how: 'the "Tools" button', find: () => sy.exactText('[role=button], button', 'Tools') },
  ],
  send: [
    { how: 'div.send-button-container', find: () => sy.first('div.send-button-container') },
    { how: '[role=button][aria-label=Send]', find: () => sy.first('[role=button][aria-label=Send]') },
  ],
};

// The first-run notice (its plain button dismisses it) and the mobile sidebar mask, which
// blocks clicks. Returns whether anything was dismissed.
const dismissNotices = () => {
  let acted = false;
  for (const dialog of sy.all('div.content.common-notice-dialog').filter(sy.visible)) {
    const ok = dialog.querySelector('button.kimi-button.plain');
    if (ok) {
      ok.click();
      acted = true;
    }
  }
  const mask = sy.first('div.sidebar-slot.is-mobile-expanded div.mask');
  if (mask) {
    mask.click();
    acted = true;
  }
  return acted;
};

// Whether the page shows the signed-out state: the login modal, or a user name that is a
// "Log In" link.
const signedOut = () => {
  if (sy.first('div.login-modal-content') || sy.first('div.google-login-btn')) return true;
  const name = sy.first('div.user-info span.user-name') || sy.first('span.user-name');
  return !!name && /^(log ?in|sign ?in)$/i.test(name.textContent.trim());
};
