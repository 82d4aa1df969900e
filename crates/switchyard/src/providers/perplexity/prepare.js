// Opens a new thread (with system text: in the switchyard Space, whose answer instructions are
// set to it first); on a paid account picks the model and sets Thinking; sets the request mode
// to Search and the Web source to the search switch; focuses the empty composer with the caret
// at its end. Returns { focused, note }: `note` (once per page) says a free account's model and
// thinking picker was skipped. Hooks: hooks.js.

// Waits for a visible menu item of `role` whose label passes `test`.
const pick = (what, role, test) =>
  sy.until(what, () => menuItems(role).find((el) => test(itemLabel(el))) || null, ARGS.step_ms);

// A textarea keeps line breaks as `\n`.
const system = ARGS.system ? ARGS.system.replace(/\r\n?/g, '\n') : '';
const emptyComposer = () => {
  const b = sy.hook('chat_box');
  return b && sy.text(b).trim() === '' && !sy.hook('stop') ? b : null;
};
// With ARGS.fresh the page already shows a new thread (prepared, or just loaded): no "New
// Thread" while its composer is empty, unless the thread goes into the Space.
if (!(ARGS.fresh && !system && emptyComposer())) {
  const newThread = sy.hook('new_chat');
  if (!newThread) throw new Error('the "New Thread" button was not found');
  newThread.click();
}
if (system) {
  // Spaces mode: leading system messages are the answer instructions of one Space. Shaping
  // leaves system text longer than the Space holds in the prompt; this is a backstop.
  const chars = [...system].length;
  if (chars > SPACE_INSTRUCTIONS_LIMIT) {
    throw new Error(
      `the system messages are ${chars} characters, more than the ` +
        `${SPACE_INSTRUCTIONS_LIMIT} a Perplexity Space's instructions hold; shorten them, or set ` +
        'providers.perplexity.system_field = false to send them in the prompt',
    );
  }
  const spaces = sy.hook('spaces');
  if (!spaces) throw new Error('the "Spaces" link was not found');
  spaces.click();
  const entry = await sy.until(
    `the Space "${SPACE_TITLE}" or "Create a Space"`,
    () => {
      const card = sy.all('a[href^="/spaces/"]').find((a) => sy.visible(a) && a.textContent.trim() === SPACE_TITLE);
      return card || sy.exactText('button', 'Create a Space');
    },
    ARGS.step_ms,
  );
  entry.click();
  if (entry.tagName === 'BUTTON') {
    const title = await sy.until('the new Space title field', () => sy.first("input[aria-label='Space title']"), ARGS.step_ms);
    sy.fill(title, SPACE_TITLE);
    (await sy.until('the Create button', () => sy.exactText('button', 'Create'), ARGS.step_ms)).click();
  }
  await sy.until(
    `the Space "${SPACE_TITLE}"`,
    () => location.pathname.startsWith('/spaces/') && sy.exactText('h1', SPACE_TITLE),
    ARGS.step_ms,
  );
  const edit = await sy.until(
    'the Space instructions editor button',
    () => sy.first("button[aria-label='Edit Space instructions']"),
    ARGS.step_ms,
  );
  edit.click();
  const field = await sy.until('the Space instructions field', () => sy.first(INSTRUCTIONS_FIELD), ARGS.step_ms);
  if (field.value === system) {
    (await sy.until('Cancel', () => sy.exactText('button', 'Cancel'), ARGS.step_ms)).click();
  } else {
    sy.fill(field, system);
    (await sy.until('Save', () => sy.exactText('button', 'Save'), ARGS.step_ms)).click();
    const saved = await sy.until(
      'the Space instructions to be saved',
      () => {
        const refused = sy.first('[role=alert]');
        if (refused) return { refused: refused.textContent.trim() };
        return !sy.first(INSTRUCTIONS_FIELD) && { refused: null };
      },
      ARGS.step_ms,
    );
    if (saved.refused) throw new Error(`Perplexity refused the Space instructions: ${saved.refused}`);
  }
}
const box = await sy.until('an empty composer after "New Thread"', emptyComposer, ARGS.step_ms);

// The model and thinking controls exist only on paid tiers.
let note = null;
let tier = sessionStorage.getItem('switchyard-perplexity-tier');
if (!tier) {
  const session = await fetch('/api/auth/session', { credentials: 'include' }).then((r) => r.json());
  tier = String((session.user && session.user.subscription_tier) || 'free');
  sessionStorage.setItem('switchyard-perplexity-tier', tier);
}
if (tier === 'pro' || tier === 'max') {
  const picker = await sy.until(
    "the Model button (button[aria-label='Model'])",
    () => sy.first("button[aria-label='Model']"),
    ARGS.step_ms,
  );
  const wanted = (ARGS.model || '').trim().toLowerCase();
  picker.click();
  const rows = await sy.until(
    'the model menu to open',
    () => {
      const found = menuItems('menuitemradio');
      return found.length ? found : null;
    },
    ARGS.step_ms,
  );
  if (wanted && itemLabel(picker).toLowerCase() !== wanted) {
    const row = rows.find((r) => itemLabel(r).toLowerCase() === wanted);
    if (!row) {
      escapeMenu();
      throw new Error(`the site offers no model "${ARGS.model}" (it offers: ${rows.map(itemLabel).join(', ')})`);
    }
    if (!(row.parentElement && row.parentElement.classList.contains('rounded-lg'))) {
      escapeMenu();
      throw new Error(`the model "${ARGS.model}" is locked for this ${tier} account (it needs a higher plan)`);
    }
    row.click();
    await sy.until(`the model to switch to ${ARGS.model}`, () => itemLabel(picker).toLowerCase() === wanted, ARGS.step_ms);
    if (!menuItems('menuitemradio').length) picker.click();
  }
  const thinking = await pick('the Thinking switch', 'menuitemcheckbox', (label) => /thinking|reasoning/i.test(label));
  const isOn = () => thinking.getAttribute('aria-checked') === 'true';
  // A model that always thinks shows the switch on and disabled.
  if (!sy.disabled(thinking) && isOn() !== ARGS.thinking) {
    thinking.click();
    await sy.until(`Thinking to turn ${ARGS.thinking ? 'on' : 'off'}`, () => isOn() === ARGS.thinking, ARGS.step_ms);
  }
  escapeMenu();
  await sy.until('the model menu to close', () => !menuItems('menuitemradio').length, ARGS.step_ms);
} else if (!sessionStorage.getItem('switchyard-perplexity-free-noted')) {
  sessionStorage.setItem('switchyard-perplexity-free-noted', '1');
  note = `Perplexity: this is a ${tier} account, which has no model or thinking picker; ` +
    "requests use the site's default model without thinking (a paid account can pick them).";
}

// The request mode must be Search (not "Learn step by step", "Deep research", "Model council").
const mode = sy.hook('mode');
if (!mode) throw new Error('the request mode button was not found');
if (mode.textContent.trim() !== 'Search') {
  mode.click();
  (await pick('the "Search" mode', 'menuitemradio', (label) => label === 'Search')).click();
  await sy.until('the request mode to switch to Search', () => mode.textContent.trim() === 'Search', ARGS.step_ms);
}

// Web search: the Web source under "Add files or tools" → "Connectors and sources".
const sources = sy.hook('sources');
if (!sources) throw new Error('the "Add files or tools" button was not found');
sources.click();
(await pick('"Connectors and sources"', 'menuitem', (label) => label === 'Connectors and sources')).click();
const web = await pick('the Web source', 'menuitemcheckbox', (label) => label === 'Web');
const webOn = () => web.getAttribute('aria-checked') === 'true';
if (webOn() !== ARGS.search) {
  web.click();
  await sy.until(`the Web source to turn ${ARGS.search ? 'on' : 'off'}`, () => webOn() === ARGS.search, ARGS.step_ms);
}
escapeMenu();
await sy.until('the sources menu to close', () => !menuItems('menuitemcheckbox').length, ARGS.step_ms);

// The caret at the end of the editor's last line, where typing goes.
box.focus();
const range = document.createRange();
range.selectNodeContents(box.lastElementChild || box);
range.collapse(false);
const selection = window.getSelection();
selection.removeAllRanges();
selection.addRange(range);
return { focused: document.activeElement === box, note };
