// Applies the account guardrails, opens a new chat, picks the model, sets Thinking / Fast and
// web search, and focuses the empty chat box. Hooks: hooks.js.
for (const dialog of sy.all('[role=dialog]')) {
  const ok = [...dialog.querySelectorAll('button')].find((b) => /^(got it|ok|i know)$/i.test(b.textContent.trim()));
  if (ok) ok.click();
}

// Guardrails: large text as a file, split chunks and memory must be off, or a long prompt
// becomes an attachment and old chats leak into the answer. One update per key, as the site's
// own settings page sends them; a fresh chat then reads the settings again. Checked at most
// every 15 s (the time is kept in the tab's sessionStorage).
const GUARDS = [
  ['ui', 'largeTextAsFile'],
  ['ui', 'splitLargeChunks'],
  ['memory', 'enable_memory'],
  ['memory', 'enable_history_memory'],
];
const GUARD_KEY = 'switchyard-qwen-guardrails';
const lastGuard = Number(sessionStorage.getItem(GUARD_KEY) || 0);
if (Date.now() - lastGuard > 15000) {
  let settings = null;
  try {
    const resp = await fetch('/api/v2/users/user/settings', { credentials: 'include' });
    if (resp.ok) settings = (await resp.json()).data || null;
  } catch (e) {
    settings = null;
  }
  for (const [group, key] of GUARDS) {
    // Unreadable settings: update blindly.
    if (settings && settings[group] && settings[group][key] === false) continue;
    const resp = await fetch('/api/v2/users/user/settings/update', {
      method: 'POST',
      credentials: 'include',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ [group]: { [key]: false } }),
    });
    if (!resp.ok) throw new Error(`turning Qwen's ${group}.${key} off failed: HTTP ${resp.status}`);
  }
  sessionStorage.setItem(GUARD_KEY, String(Date.now()));
}

// With ARGS.fresh the page already shows a new chat (prepared, or just loaded): no "New
// Chat" while its box is empty.
const emptyBox = () => {
  const t = sy.hook('chat_box');
  return t && t.value === '' ? t : null;
};
if (!(ARGS.fresh && emptyBox())) {
  const newChat = sy.hook('new_chat');
  if (!newChat) throw new Error('the "New Chat" entry was not found');
  newChat.click();
}
const box = await sy.until('an empty chat box after "New Chat"', emptyBox, ARGS.step_ms);

const escape = () => {
  const init = { key: 'Escape', code: 'Escape', keyCode: 27, bubbles: true };
  (document.activeElement || document.body).dispatchEvent(new KeyboardEvent('keydown', init));
  document.dispatchEvent(new KeyboardEvent('keydown', init));
};
// Model names compare by their NFKC letters and digits only ("Qwen3.5-Plus" = "qwen35plus").
const canon = (text) => (text || '').normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');

// The site model for a real-model ID. The list shows a few models until "Expand more models".
if (ARGS.model) {
  const picker = await sy.until('the model picker', () => sy.hook('model_picker'), ARGS.step_ms);
  const label = () => (sy.first("[class*='model-selector-text']") || picker).textContent.trim();
  const wanted = canon(ARGS.model);
  if (canon(label()) !== wanted) {
    const ITEMS = "div[class*='model-selector-popup'] div[class*='model-list'] div[class*='model-item___']";
    const name = (item) => {
      const span = item.querySelector("div[class*='model-item-name'] span");
      return (span || item).textContent.trim();
    };
    picker.click();
    let items = await sy.until(
      'the model list to open',
      () => {
        const found = sy.all(ITEMS).filter(sy.visible);
        return found.length ? found : null;
      },
      ARGS.step_ms,
    );
    let option = items.find((item) => canon(name(item)) === wanted);
    const more = sy.first("div[class*='view-more']");
    if (!option && more) {
      const before = items.length;
      more.click();
      items = await sy.until(
        'more models',
        () => {
          const found = sy.all(ITEMS).filter(sy.visible);
          return found.length > before ? found : null;
        },
        ARGS.step_ms,
      );
      option = items.find((item) => canon(name(item)) === wanted);
    }
    if (!option) {
      escape();
      throw new Error(`the site offers no model "${ARGS.model}" (it offers: ${items.map(name).join(', ')})`);
    }
    option.scrollIntoView({ block: 'nearest' });
    option.click();
    await sy.until(`the model to switch to ${ARGS.model}`, () => canon(label()) === wanted, ARGS.step_ms);
  }
}

// Thinking: the select's Thinking (on) or Fast (off); the site's own Auto is never kept.
const thinking = sy.hook('thinking');
const wantedMode = ARGS.thinking ? 'Thinking' : 'Fast';
const modeLabel = () => (thinking.querySelector('div.qwen-select-thinking-label') || thinking).textContent.trim();
if (thinking) {
  if (modeLabel() !== wantedMode) {
    thinking.click();
    const option = await sy.until(
      `the "${wantedMode}" option`,
      () =>
        sy
          .all('div.rc-virtual-list-holder-inner > *')
          .find((o) => sy.visible(o) && o.textContent.trim() === wantedMode) || null,
      ARGS.step_ms,
    );
    option.click();
    await sy.until(`thinking to switch to ${wantedMode}`, () => modeLabel() === wantedMode, ARGS.step_ms);
  }
} else if (ARGS.thinking) {
  throw new Error('the thinking select was not found');
}

// Web search: on while the current mode says "search". On through the mode menu, off by the
// current mode's close mark.
const modeSelect = sy.hook('search');
const searchOn = () => {
  const current = sy.first('div.mode-select-current-mode');
  return !!current && /search/i.test(current.textContent);
};
if (modeSelect && searchOn() !== ARGS.search) {
  if (ARGS.search) {
    modeSelect.click();
    const item = await sy.until(
      'the "Web Search" mode',
      () =>
        sy.first("li[data-menu-id$='-search']") ||
        sy.all('li span').find((s) => sy.visible(s) && /web search/i.test(s.textContent)) ||
        null,
      ARGS.step_ms,
    );
    item.click();
  } else {
    const close = sy.first('span.mode-select-current-mode-close');
    if (!close) throw new Error('the close mark of the search mode was not found');
    close.click();
  }
  await sy.until(`search to turn ${ARGS.search ? 'on' : 'off'}`, () => searchOn() === ARGS.search, ARGS.step_ms);
} else if (!modeSelect && ARGS.search) {
  throw new Error('the mode menu (web search) was not found');
}

box.focus();
box.select();
return document.activeElement === box;
