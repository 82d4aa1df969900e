// Opens a new chat, sets Deep Think and web search, and focuses the empty chat box. With
// ARGS.fresh the page already shows a new chat (prepared, or just loaded): no "New chat"
// while its box is empty. Hooks: hooks.js.
for (const b of sy.all('button[data-dialog-close]')) if (sy.visible(b)) b.click();

const emptyBox = () => {
  const t = sy.hook('chat_box');
  return t && t.value === '' ? t : null;
};
if (!(ARGS.fresh && emptyBox())) {
  const newChat = sy.hook('new_chat');
  if (!newChat) throw new Error('the "New chat" button was not found');
  newChat.click();
}
const box = await sy.until('an empty chat box after "New chat"', emptyBox, ARGS.step_ms);

const escape = () => {
  const init = { key: 'Escape', code: 'Escape', keyCode: 27, bubbles: true };
  (document.activeElement || document.body).dispatchEvent(new KeyboardEvent('keydown', init));
  document.dispatchEvent(new KeyboardEvent('keydown', init));
};

// The site model for a real-model ID (only inside the new-chat flow: the picker is unreliable
// elsewhere).
if (ARGS.model) {
  const ITEMS = "button[aria-label='model-item'][data-value], div[role=menu] button[data-value]";
  const picker = await sy.until(
    'the model picker',
    () => {
      const b = sy.hook('model_picker');
      return b && !sy.disabled(b) && !b.classList.contains('cursor-default') ? b : null;
    },
    ARGS.step_ms,
  );
  const label = () => (picker.firstChild ? picker.firstChild.textContent : picker.textContent).trim();
  const wanted = ARGS.model.trim().toLowerCase();
  if (label().toLowerCase() !== wanted) {
    picker.click();
    const items = await sy.until(
      'the model list to open',
      () => {
        const found = sy.all(ITEMS).filter(sy.visible);
        return found.length ? found : null;
      },
      ARGS.step_ms,
    );
    const option = items.find(
      (o) =>
        o.textContent.trim().toLowerCase() === wanted || (o.dataset.value || '').toLowerCase() === wanted,
    );
    if (!option) {
      escape();
      throw new Error(
        `the site offers no model "${ARGS.model}" (it offers: ${items.map((o) => o.textContent.trim()).join(', ')})`,
      );
    }
    option.click();
    await sy.until(`the model to switch to ${ARGS.model}`, () => label().toLowerCase() === wanted, ARGS.step_ms);
  }
}

// Deep Think: the effort menu (GLM-5.2 and newer), else the classic switch. With thinking on,
// ARGS.effort ("High" / "Max") also picks the effort.
const deepThink = sy.find(HOOKS.deep_think);
const trigger = deepThink && deepThink.way === 0 ? deepThink.el : null;
if (trigger) {
  const isOn = () => !/\bOff\b/.test(trigger.textContent);
  const effortOk = () => !ARGS.thinking || !ARGS.effort || trigger.textContent.includes(ARGS.effort);
  if (isOn() !== ARGS.thinking || !effortOk()) {
    trigger.click();
    const menu = await sy.until(
      'the Deep Think menu to open',
      () => sy.first('div[role=menu][data-state=open]'),
      ARGS.step_ms,
    );
    const sw = menu.querySelector('button[role=switch]');
    if (!sw) throw new Error('the Deep Think switch was not found in its menu');
    const switchedOn = () => sw.getAttribute('aria-checked') === 'true';
    if (switchedOn() !== ARGS.thinking) {
      sw.click();
      await sy.until(
        `Deep Think to turn ${ARGS.thinking ? 'on' : 'off'}`,
        () => switchedOn() === ARGS.thinking,
        ARGS.step_ms,
      );
    }
    if (ARGS.thinking && ARGS.effort) {
      const option = sy.exactText('button[data-selected]', ARGS.effort, menu);
      if (!option) throw new Error(`the Deep Think effort "${ARGS.effort}" was not found`);
      if (option.dataset.selected !== 'true') {
        option.click();
        await sy.until(`the ${ARGS.effort} effort`, () => option.dataset.selected === 'true', ARGS.step_ms);
      }
    }
    escape();
    await sy.until(
      'the Deep Think menu to close',
      () => !sy.first('div[role=menu][data-state=open]'),
      ARGS.step_ms,
    );
  }
} else {
  const classic = deepThink ? deepThink.el : null;
  if (classic) {
    const isOn = () => classic.getAttribute('data-autothink') === 'true';
    if (isOn() !== ARGS.thinking) {
      classic.click();
      await sy.until('Deep Think to switch', () => isOn() === ARGS.thinking, ARGS.step_ms);
    }
  } else if (ARGS.thinking) {
    throw new Error('the Deep Think control was not found');
  }
}

// Web search: the unlabeled button right before the Deep Think control, else the left-most
// composer toggle.
const search = sy.hook('search');
if (search) {
  const isOn = () =>
    search.getAttribute('data-active') === 'true' ||
    search.getAttribute('data-selected') === 'true' ||
    /^web search enabled/i.test(search.getAttribute('aria-label') || '');
  if (isOn() !== ARGS.search) {
    search.click();
    await sy.until(`search to turn ${ARGS.search ? 'on' : 'off'}`, () => isOn() === ARGS.search, ARGS.step_ms);
  }
} else if (ARGS.search) {
  throw new Error('the web search toggle was not found');
}

box.focus();
box.select();
return document.activeElement === box;
