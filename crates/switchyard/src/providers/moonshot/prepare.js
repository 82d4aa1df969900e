// Applies the memory guardrail, opens a new chat, picks the model and its thinking effort,
// sets web search, and focuses the empty chat box. Hooks: hooks.js.
dismissNotices();

// Guardrail: the account's memory must be off, or old chats leak into the answer. Read through
// the site's own settings service (Connect unary JSON, the page's access token); turned off
// with one UpdateUserSetting naming both memory paths, then read again. Checked at most every
// 15 s (the time is kept in the tab's sessionStorage).
const GUARD_KEY = 'switchyard-kimi-memory';
if (Date.now() - Number(sessionStorage.getItem(GUARD_KEY) || 0) > 15000) {
  const headers = {
    'content-type': 'application/json',
    'connect-protocol-version': '1',
    authorization: 'Bearer ' + (localStorage.getItem('access_token') || ''),
  };
  const call = async (method, body) => {
    const resp = await fetch('/apiv2/kimi.usersetting.v1.UserSettingService/' + method, {
      method: 'POST',
      credentials: 'include',
      headers,
      body: JSON.stringify(body),
    });
    if (!resp.ok) throw new Error(`Kimi's ${method} failed: HTTP ${resp.status}`);
    return resp.json();
  };
  const memoryOn = (setting) => {
    const memory = ((setting || {}).userSetting || {}).memory || {};
    return memory.useSemanticMemory === true || memory.useEpisodicMemory === true;
  };
  if (memoryOn(await call('GetUserSetting', {}))) {
    await call('UpdateUserSetting', {
      user_setting: { memory: {} },
      update_mask: 'memory.useSemanticMemory,memory.useEpisodicMemory',
    });
    if (memoryOn(await call('GetUserSetting', {}))) throw new Error("Kimi's memory stayed on after turning it off");
  }
  sessionStorage.setItem(GUARD_KEY, String(Date.now()));
}

// A new chat: the site's "New Chat" link (/?chat_enter_method=new_chat), else the same URL
// through the app's router. With ARGS.fresh the page already shows a new chat (prepared, or
// just loaded): none while it shows an empty box outside a chat.
const emptyBox = () => {
  dismissNotices();
  const b = sy.hook('chat_box');
  return b && b.isContentEditable && b.textContent === '' && !location.pathname.startsWith('/chat/') ? b : null;
};
if (!(ARGS.fresh && emptyBox())) {
  const newChat = sy.hook('new_chat');
  if (newChat) {
    newChat.click();
  } else {
    history.pushState(null, '', '/?chat_enter_method=new_chat');
    dispatchEvent(new PopStateEvent('popstate'));
  }
}
const box = await sy.until('an empty chat box in a new chat', emptyBox, ARGS.step_ms);

const escape = () => {
  const init = { key: 'Escape', code: 'Escape', keyCode: 27, bubbles: true };
  document.dispatchEvent(new KeyboardEvent('keydown', init));
};
// Model names compare by letters and digits, without the "Kimi" in front ("Kimi K3" = "K3").
const canon = (text) => (text || '').toLowerCase().replace(/[^a-z0-9]/g, '').replace(/^kimi/, '');
const picker = await sy.until('the model picker', () => sy.hook('model_picker'), ARGS.step_ms);
const currentName = () => {
  const name = picker.querySelector('span.name');
  return (name || picker).textContent.trim();
};
const openMenu = async () => {
  picker.click();
  return sy.until(
    'the model menu to open',
    () => {
      const found = sy.all('[data-testid="model-option"]').filter(sy.visible);
      return found.length ? found : null;
    },
    ARGS.step_ms,
  );
};
const optionName = (o) => (o.querySelector('span.name') || o).textContent.trim();

if (ARGS.model && canon(currentName()) !== canon(ARGS.model)) {
  const options = await openMenu();
  const option = options.find((o) => canon(optionName(o)) === canon(ARGS.model));
  if (!option) {
    escape();
    throw new Error(`the site offers no model "${ARGS.model}" (it offers: ${options.map(optionName).join(', ')})`);
  }
  option.click();
  await sy.until(`the model to switch to ${ARGS.model}`, () => canon(currentName()) === canon(ARGS.model), ARGS.step_ms);
}

// The thinking effort: Standard is thinking off; thinking on is the asked level (High unless
// Max was asked). Set every time, in the model menu's effort submenu.
const level = ARGS.thinking ? ARGS.effort || 'High' : 'Standard';
await openMenu();
const effortItem = await sy.until(
  'the thinking effort item',
  () => sy.first('[data-testid="model-effort-item"]'),
  ARGS.step_ms,
);
effortItem.dispatchEvent(new MouseEvent('mouseenter', { bubbles: true }));
effortItem.click();
const radios = await sy.until(
  'the thinking effort levels',
  () => {
    const found = sy.all('[role="menuitemradio"]').filter(sy.visible);
    return found.length ? found : null;
  },
  ARGS.step_ms,
);
const radio = radios.find((r) => r.textContent.trim().toLowerCase() === level.toLowerCase());
if (!radio) {
  escape();
  throw new Error(
    `${currentName()} offers no ${level} thinking (it offers: ${radios.map((r) => r.textContent.trim()).join(', ')})`,
  );
}
radio.click();
await sy.until('the model menu to close', () => !sy.first('[data-testid="model-option"]'), ARGS.step_ms);

// Web search: off while the "Internet off" switch shows. That switch turns it on; the toolkit's
// search item turns it on or off (its first choice is on, the second off).
const searchOn = () => !sy.all('div.chat-editor div.tool-switch.open.showClose').some((s) => sy.visible(s) && /internet off/i.test(s.textContent));
if (searchOn() !== ARGS.search) {
  const chip = sy.all('div.chat-editor div.tool-switch.open.showClose').find((s) => sy.visible(s) && /internet off/i.test(s.textContent));
  if (ARGS.search && chip) {
    chip.click();
  } else {
    const toolkit = sy.hook('search');
    if (!toolkit) throw new Error('the toolkit (web search) was not found');
    toolkit.click();
    const item = await sy.until(
      'the search item of the toolkit',
      () => sy.all('div.toolkit-container *').find((el) => sy.visible(el) && el.children.length === 0 && /search|internet|web|connect/i.test(el.textContent)) || null,
      ARGS.step_ms,
    );
    item.dispatchEvent(new MouseEvent('mouseenter', { bubbles: true }));
    const choices = await sy.until(
      'the search choices',
      () => {
        const found = sy.all('div.connect-container div.connect-item').filter(sy.visible);
        return found.length >= 2 ? found : null;
      },
      ARGS.step_ms,
    );
    choices[ARGS.search ? 0 : 1].click();
  }
  await sy.until(`search to turn ${ARGS.search ? 'on' : 'off'}`, () => searchOn() === ARGS.search, ARGS.step_ms);
}

box.focus();
const range = document.createRange();
range.selectNodeContents(box);
range.collapse(false);
const selection = getSelection();
selection.removeAllRanges();
selection.addRange(range);
return document.activeElement === box;
