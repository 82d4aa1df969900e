// A new conversation, then the model settings (model, inference provider, custom system
// prompt) when they must change, the thinking effort and the Web Search (Exa) MCP server,
// then the focus in the chat box. With ARGS.fresh the page already shows a new chat
// (prepared, or just loaded): no New Chat while it shows an empty box outside a conversation.
const STEP = ARGS.step_ms;
const newShown = () => {
  const box = sy.hook('chat_box');
  return box && box.value === '' && !location.pathname.includes('/conversation/') ? box : null;
};
if (!(ARGS.fresh && newShown())) {
  const newChat = sy.hook('new_chat');
  if (!newChat) throw new Error('the New Chat link was not found');
  press(newChat);
}
await sy.until('a new chat', newShown, STEP);

const notes = [];
// The live model list, when this request read it (the driver keeps it for routing).
let models;
const linkModel = () => {
  const link = sy.hook('model_settings');
  return link ? link.textContent.replace('Model:', '').trim() : '';
};
const system = ARGS.system || '';
const applied = JSON.parse(sessionStorage.getItem(SYSTEM_KEY) || 'null');
const wanted = ARGS.model;
const current = linkModel();
const sameModel = (id, name) => !!wanted && (id === wanted || id.split('/').pop() === wanted || name === wanted);
const needModel = !!wanted && wanted !== current && wanted.split('/').pop() !== current;
const needProvider = !!ARGS.inference_provider;
const needSystem = !applied || applied.model !== current || applied.system !== system;
if (needModel || needProvider || needSystem || !sessionStorage.getItem(MODELS_KEY)) {
  const link = sy.hook('model_settings');
  if (!link) throw new Error('the "Model:" settings link was not found');
  press(link);
  const buttons = await sy.until('the model list', () => {
    const b = sy.all('button[data-model-id]').filter(sy.visible);
    return b.length ? b : null;
  }, STEP);
  models = buttons.map((b) => ({ id: b.getAttribute('data-model-id'), name: b.textContent.trim() }));
  sessionStorage.setItem(MODELS_KEY, JSON.stringify(models));
  let target = buttons.find((b) => b.getAttribute('aria-selected') === 'true') || buttons[0];
  if (wanted) {
    const i = models.findIndex((m) => sameModel(m.id, m.name));
    if (i < 0) {
      // Not served here: a request error, with the list the driver keeps.
      press(sy.hook('new_chat'));
      return { focused: false, models, unavailable: wanted };
    }
    target = buttons[i];
  }
  press(target);
  const name = target.textContent.trim();
  await sy.until('the model settings heading', () => {
    const h = sy.first('h2');
    return h && h.textContent.includes(name) ? h : null;
  }, STEP);
  if (ARGS.inference_provider && ARGS.inference_provider !== 'auto') {
    const dropdown = sy.first("button[aria-label='Select inference provider']");
    if (!dropdown) throw new Error('this model has no inference provider menu');
    press(dropdown);
    const item = await sy.until(`the inference provider ${ARGS.inference_provider}`,
      () => sy.all('[data-value]').find((i) => sy.visible(i) && i.getAttribute('data-value') === ARGS.inference_provider), STEP)
      .catch(() => { throw new Error(`inference provider \`${ARGS.inference_provider}\` is not offered for ${name}`); });
    press(item);
    await sy.until('the provider to show', () => {
      const d = sy.first("button[aria-label='Select inference provider']");
      return d && d.textContent.trim() === ARGS.inference_provider;
    }, STEP);
  }
  const field = sy.first("textarea[aria-label='Custom system prompt']") || sy.first('#settings textarea');
  if (field && field.value !== system) sy.fill(field, system);
  else if (!field && system) throw new Error('the custom system prompt field was not found');
  const activate = sy.first("button[name='Activate model']");
  if (!activate) throw new Error('the Activate button was not found');
  press(activate);
  await sy.until('the model to be active', () => {
    const h = sy.first('h2');
    return h && h.textContent.includes(name) && h.textContent.includes('active');
  }, STEP);
  press(sy.hook('new_chat'));
  await sy.until('the chat box again', () => sy.hook('chat_box'), STEP);
  sessionStorage.setItem(SYSTEM_KEY, JSON.stringify({ model: name, system }));
}

// Thinking effort: the request's own (`huggingchat_thinking_effort` holds on `-chat` too: the
// reference applies per-request overrides after the mode), else `auto` with thinking on and
// `default` (off) without.
const effort = ARGS.thinking_effort || (ARGS.thinking ? 'auto' : 'default');
const effortButton = sy.hook('effort');
if (effortButton) {
  if (!effortButton.textContent.includes(`Effort: ${effort}`)) {
    press(effortButton);
    const item = await sy.until(`the effort ${effort}`,
      () => sy.all('[role=menuitemradio], [role=menuitem]').find((i) => sy.visible(i) && i.textContent.trim().toLowerCase() === effort), STEP)
      .catch(() => { throw new Error(`this model has no thinking effort \`${effort}\``); });
    press(item);
    await sy.until('the effort to show', () => {
      const b = sy.hook('effort');
      return b && b.textContent.includes(`Effort: ${effort}`);
    }, STEP);
  }
} else if (ARGS.thinking) {
  notes.push('this HuggingChat model has no thinking effort menu; it answers as it does');
}

// Web search: the Exa MCP server.
const exaOn = () => {
  const m = sy.first("button[title='Manage MCP Servers']");
  return !!m && /MCP \(\d+\)/.test(m.textContent) && !!m.querySelector("img[src*='exa.ai']");
};
if (ARGS.search && !exaOn()) {
  const attach = sy.hook('attachment');
  if (!attach) throw new Error('the attachment menu was not found');
  press(attach);
  const trigger = await sy.until('the MCP submenu', () => {
    const t = sy.all('[data-dropdown-menu-sub-trigger]').filter(sy.visible);
    return t.length >= 2 ? t[1] : null;
  }, STEP);
  press(trigger);
  const exa = await sy.until('Web Search (Exa)', () =>
    sy.all('[role=menuitemcheckbox]').find((i) => sy.visible(i) && sy.withText('span', 'Web Search (Exa)', i)), STEP);
  press(exa);
  await sy.until('the Exa server to be on', exaOn, STEP);
} else if (!ARGS.search && exaOn()) {
  press(sy.first("button[aria-label='Disable all MCP servers']"));
  await sy.until('the MCP servers to be off', () => !exaOn(), STEP);
}

const box = sy.hook('chat_box');
box.focus();
const focused = document.activeElement === box;
let note;
if (notes.length && !sessionStorage.getItem('switchyard-huggingchat-noted')) {
  sessionStorage.setItem('switchyard-huggingchat-noted', '1');
  note = notes.join('; ');
}
return note || models ? { focused, note, models } : focused;
