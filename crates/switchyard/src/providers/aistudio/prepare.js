// Opens a new temporary chat (the start URL `/prompts/new_chat?incognito=true`, through the
// app's router; `incognito=true` is added back when a redirect drops it), picks the model, its
// Thinking Level, the request's temperature / top-p / max output tokens, the safety filters
// (once per page, to their minimum), Search grounding and URL context, the System
// Instructions, and focuses the empty composer. Returns { focused, note }: `note` names a
// setting the model has not (once per page and setting). Hooks: hooks.js.
const LEVELS = ['minimal', 'low', 'medium', 'high'];
const notes = [];
const noteOnce = (key, text) => {
  const seen = (window.__switchyardNotes = window.__switchyardNotes || {});
  if (!seen[key]) {
    seen[key] = true;
    notes.push(text);
  }
};
// (Paid models are refused before the request is queued, unless the lane assumes paid access.)

// A new chat: every setting starts from the site's defaults. The site may redirect and drop
// `incognito=true` (a temporary chat saves nothing); the reference adds it back.
const TEMPORARY = '/prompts/new_chat?incognito=true';
const temporary = () => new URLSearchParams(location.search).get('incognito') === 'true';
const fresh = () => {
  const b = sy.hook('chat_box');
  return b && b.value === '' && !sy.first('.chat-turn-container') ? b : null;
};
// With ARGS.fresh the page already shows a new chat (prepared, or just loaded): none while it
// shows an empty temporary chat.
if (!(ARGS.fresh && location.pathname === '/prompts/new_chat' && temporary() && fresh())) {
  history.pushState(null, '', TEMPORARY);
  dispatchEvent(new PopStateEvent('popstate'));
}
let box = await sy.until('an empty composer in a new chat', fresh, ARGS.step_ms);
if (!temporary()) {
  history.replaceState(null, '', location.pathname + '?incognito=true');
  dispatchEvent(new PopStateEvent('popstate'));
  box = await sy.until('an empty composer in a new temporary chat', () => temporary() && fresh(), ARGS.step_ms);
  noteOnce('incognito', 'the site dropped incognito=true on a new chat; it was added back');
}

// The model: the selector card → the carousel → family "All" → the model's row.
const nameOf = () => {
  const name = sy.first("span[data-test-id='model-name']");
  return name ? name.textContent.trim() : '';
};
if (ARGS.model && nameOf() !== ARGS.model) {
  const picker = sy.hook('model_picker');
  if (!picker) throw new Error('the model selector was not found');
  picker.click();
  const carousel = await sy.until(
    'the model carousel',
    () => sy.first("[data-test-id='model-carousel-in-selector']"),
    ARGS.step_ms,
  );
  const all = sy.exactText('button', 'All', carousel);
  if (all) all.click();
  const row = await sy.until(
    `the model ${ARGS.model}`,
    () =>
      sy.all("button[id^='model-carousel-row-models/']", carousel).find(
        (b) => sy.visible(b) && b.textContent.trim() === ARGS.model,
      ) || null,
    ARGS.step_ms,
  );
  row.click();
  await sy.until(`the model ${ARGS.model} to be selected`, () => nameOf() === ARGS.model, ARGS.step_ms);
}

// The Thinking Level, on models that have one: a named level (the nearest the model offers),
// a tier mapped onto the model's levels, or from the mode (thinking off = the lowest level,
// on = High, the site's default).
const select = sy.hook('thinking_level');
if (select) {
  select.click();
  const options = await sy.until(
    'the Thinking Level options',
    () => {
      const found = sy.all("div[role=listbox] mat-option, div[role=listbox] [role=option]").filter(sy.visible);
      return found.length ? found : null;
    },
    ARGS.step_ms,
  );
  const offered = options.map((o) => o.textContent.trim().toLowerCase());
  const wanted = ARGS.thinking_level || '';
  let index;
  const tier = /^r([0-4])$/.exec(wanted);
  if (tier) {
    const n = Number(tier[1]);
    index = n === 0 ? 0 : Math.round(((n - 1) * (offered.length - 1)) / 3);
  } else if (LEVELS.includes(wanted)) {
    const rank = LEVELS.indexOf(wanted);
    index = offered.findIndex((o) => LEVELS.indexOf(o) >= rank);
    if (index < 0) index = offered.length - 1;
  } else {
    index = ARGS.thinking ? offered.length - 1 : 0;
  }
  if (!ARGS.thinking) index = 0;
  options[index].click();
  const label = options[index].textContent.trim();
  await sy.until(
    `the Thinking Level ${label}`,
    () => (select.textContent || '').trim() === label && !sy.first('div[role=listbox]'),
    ARGS.step_ms,
  );
} else if (ARGS.thinking_level) {
  noteOnce('level', `${nameOf()} has no Thinking Level; the -${ARGS.thinking_level} suffix is ignored`);
}

// The sampling settings, only where the request set them (else the site's defaults stay).
const setNumber = async (what, input, value) => {
  sy.fill(input, String(value));
  await sy.until(`${what} to read ${value}`, () => Number(input.value) === Number(value), ARGS.step_ms);
};
for (const [what, sel, value] of [
  ['the temperature', "div[data-test-id='temperatureSliderContainer'] input", ARGS.temperature],
  ['top-p', "div[mattooltip='Probability threshold for top-p sampling'] input", ARGS.top_p],
]) {
  if (value == null) continue;
  const input = sy.first(sel);
  if (!input) {
    noteOnce(what, `${nameOf()} has no ${what} setting; the request's ${what} is ignored`);
    continue;
  }
  await setNumber(what, input, value);
}
if (ARGS.max_tokens != null) {
  let input = sy.first("input[aria-label='Maximum output tokens']");
  if (!input) {
    const expand = sy.first("button[aria-label='Expand or collapse advanced settings']");
    if (!expand) throw new Error('the advanced settings button was not found');
    expand.click();
    input = await sy.until(
      'the maximum output tokens field',
      () => sy.first("input[aria-label='Maximum output tokens']"),
      ARGS.step_ms,
    );
  }
  await setNumber('the maximum output tokens', input, ARGS.max_tokens);
}

// Once per page (the reference: once per session): every safety filter to its minimum, in
// the run settings' safety panel (value setter, pointer/mouse events, input/change).
if (!window.__switchyardSafety) {
  let button = sy.first('div.safety-settings button');
  if (!button) {
    const expand = sy.first("button[aria-label='Expand or collapse advanced settings']");
    if (expand) {
      expand.click();
      button = await sy.until('the safety settings button', () => sy.first('div.safety-settings button'), ARGS.step_ms);
    }
  }
  if (button) {
    button.click();
    const ranges = await sy.until('the safety settings', () => {
      const found = sy.all("div.run-safety-settings input[type=range]").filter(sy.visible);
      return found.length ? found : null;
    }, ARGS.step_ms);
    const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
    for (const range of ranges) {
      const min = range.min || '0';
      if (range.value === min) continue;
      for (const type of ['pointerdown', 'mousedown']) range.dispatchEvent(new MouseEvent(type, { bubbles: true }));
      setter.call(range, min);
      range.dispatchEvent(new Event('input', { bubbles: true }));
      range.dispatchEvent(new Event('change', { bubbles: true }));
      for (const type of ['pointerup', 'mouseup']) range.dispatchEvent(new MouseEvent(type, { bubbles: true }));
    }
    await sy.until('the safety filters to read their minimum', () => ranges.every((r) => r.value === (r.min || '0')), ARGS.step_ms);
    const close = sy.first("div.run-safety-settings button[aria-label*='lose']") || sy.first('[data-test-close-button]');
    if (close) close.click();
    else document.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
    await sy.until('the safety panel to close', () => !sy.first('div.run-safety-settings'), ARGS.step_ms);
    window.__switchyardSafety = true;
  } else {
    noteOnce('safety', 'the run settings have no safety settings; the site keeps its filters');
  }
}

// Search grounding and URL context (Gemma grounds always and has no URL context).
const setSwitch = async (what, button, on) => {
  if (switchOn(button) === on) return;
  if (sy.disabled(button)) {
    noteOnce(what, `${nameOf()} keeps ${what} ${switchOn(button) ? 'on' : 'off'}`);
    return;
  }
  button.click();
  await sy.until(`${what} to turn ${on ? 'on' : 'off'}`, () => switchOn(button) === on, ARGS.step_ms);
};
const search = sy.hook('search');
if (search) await setSwitch('Search grounding', search, !!ARGS.search);
const url = sy.first("button[aria-label='Browse the url context']");
if (url) await setSwitch('URL context', url, !!ARGS.url_context);
else if (ARGS.url_context) noteOnce('url', `${nameOf()} has no URL context; [[url]] is ignored`);

// System Instructions: a title, the text, wait until saved, close.
if (ARGS.system) {
  const card = sy.hook('system_instructions');
  if (!card) throw new Error('the System Instructions card was not found');
  card.click();
  const text = await sy.until(
    'the System Instructions field',
    () => sy.first("textarea[aria-label='System instructions']"),
    ARGS.step_ms,
  );
  const title = sy.first("input[aria-label='Title']");
  if (title) sy.fill(title, 'switchyard-' + Math.random().toString(16).slice(2, 10));
  sy.fill(text, ARGS.system.replace(/\r\n?/g, '\n'));
  await sy.until('the System Instructions to save', () => sy.first('div.saving-status.visible'), ARGS.step_ms);
  const close = sy.first('[data-test-close-button]');
  if (!close) throw new Error('the System Instructions close button was not found');
  close.click();
  await sy.until('the System Instructions panel to close', () => !sy.first("textarea[aria-label='System instructions']"), ARGS.step_ms);
}

box.focus();
return { focused: document.activeElement === box, note: notes.length ? notes.join('; ') : undefined };
