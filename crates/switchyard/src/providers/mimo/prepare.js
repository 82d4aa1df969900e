// Opens a new chat, picks the model, sets web search, and focuses the empty chat box. MiMo has
// no thinking toggle: the model thinks, and the gateway forwards or drops the `<think>` text.
// With ARGS.fresh the page already shows a new chat (prepared, or just loaded): no "New chat"
// while its box is empty. Hooks: hooks.js.
dismissModals();
const emptyBox = () => {
  dismissModals();
  const t = sy.hook('chat_box');
  return t && t.value === '' ? t : null;
};
if (!(ARGS.fresh && emptyBox())) {
  const newChat = sy.hook('new_chat');
  if (!newChat) throw new Error('the "New chat" button was not found');
  newChat.click();
}
const box = await sy.until('an empty chat box after "New chat"', emptyBox, ARGS.step_ms);

if (ARGS.model) {
  const picker = await sy.until(
    'the model picker',
    () => {
      const b = sy.hook('model_picker');
      return b && !sy.disabled(b) ? b : null;
    },
    ARGS.step_ms,
  );
  const wanted = ARGS.model.trim().toLowerCase();
  const label = () => picker.textContent.trim().toLowerCase();
  if (label() !== wanted) {
    picker.click();
    const items = await sy.until(
      'the model list to open',
      () => {
        const found = sy.all('[role=listbox] [role=option]').filter(sy.visible);
        return found.length ? found : null;
      },
      ARGS.step_ms,
    );
    const option = items.find((o) => o.textContent.trim().toLowerCase() === wanted);
    if (!option) {
      picker.click();
      throw new Error(
        `the site offers no model "${ARGS.model}" (it offers: ${items.map((o) => o.textContent.trim()).join(', ')})`,
      );
    }
    option.click();
    await sy.until(`the model to switch to ${ARGS.model}`, () => label() === wanted, ARGS.step_ms);
  }
}

const search = sy.hook('search');
if (search) {
  const isOn = () => search.getAttribute('aria-pressed') === 'true';
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
