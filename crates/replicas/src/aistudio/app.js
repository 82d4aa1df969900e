// Google AI Studio replica page logic: the sign-in gate, the model carousel, the Thinking Level
// listbox, the run settings (read only from input/change events, as the site's framework
// does), the System Instructions panel, the Run/Stop button and one GenerateContent call per run.
'use strict';

(() => {
  const $ = (selector) => document.querySelector(selector);
  const main = $('main');
  const turns = $('#turns');
  const composer = $('textarea[cdktextareaautosize]');
  const run = $("button[name='run-button']");
  const modelCard = $('button.model-selector-card');
  const modelName = $("span[data-test-id='model-name']");
  const levelSelect = $("mat-select[aria-label='Thinking Level']");
  const levelRow = $('.thinking-level-row');
  const temperature = $("div[data-test-id='temperatureSliderContainer'] input");
  const topP = $("div[mattooltip='Probability threshold for top-p sampling'] input");
  const maxTokens = $("input[aria-label='Maximum output tokens']");
  const advanced = $("button[aria-label='Expand or collapse advanced settings']");
  const searchSwitch = $("button[aria-label='Grounding with Google Search']");
  const urlSwitch = $("button[aria-label='Browse the url context']");
  const systemCard = $('button.system-instructions-card');
  const safetyButton = $('div.safety-settings button');
  // Safety filter thresholds per category (0 = block none … 4 = block most), kept for the
  // session like the site's run settings (a new chat keeps them); read only from the range
  // inputs' own input/change events.
  const SAFETY = ['Harassment', 'Hate', 'Sexually Explicit', 'Dangerous Content'];
  const safety = SAFETY.map(() => 2);
  const RPC = '/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/';

  const ALL = ['Minimal', 'Low', 'Medium', 'High'];
  const MODELS = [
    { id: 'gemini-3.5-flash', label: 'Gemini 3.5 Flash', family: 'gemini', levels: ALL, sampling: true },
    { id: 'gemini-3.1-pro-preview', label: 'Gemini 3.1 Pro', family: 'gemini', levels: ['Low', 'Medium', 'High'], sampling: true },
    { id: 'gemini-3.1-flash-lite', label: 'Gemini 3.1 Flash Lite', family: 'gemini', levels: ALL, sampling: false },
    { id: 'gemini-3-flash-preview', label: 'Gemini 3 Flash', family: 'gemini', levels: ALL, sampling: true },
    { id: 'gemini-2.5-pro', label: 'Gemini 2.5 Pro', family: 'gemini', levels: [], sampling: true },
    { id: 'gemini-2.5-flash', label: 'Gemini 2.5 Flash', family: 'gemini', levels: [], sampling: true },
    { id: 'gemini-2.5-flash-lite', label: 'Gemini 2.5 Flash Lite', family: 'gemini', levels: [], sampling: true },
    { id: 'gemma-4-26b-a4b-it', label: 'Gemma 4 26B-A4B', family: 'gemma', levels: [], sampling: true },
    { id: 'gemma-4-31b-it', label: 'Gemma 4 31B', family: 'gemma', levels: [], sampling: true },
  ];
  let temporary = false;
  // The chat so far, oldest first: { role: 'user' | 'model', text }.
  let chat = [];
  // Trusted pointer moves (their times), and how the last Run click came.
  const moves = [];
  let runClick = null;
  document.addEventListener(
    'mousemove',
    (event) => {
      if (!event.isTrusted) return;
      moves.push(event.timeStamp);
      while (moves.length > 500) moves.shift();
    },
    true,
  );
  const dropsIncognito = $('meta[name=replica-drops-incognito]').content === 'yes';
  let dropped = false;
  // What the run uses: changed only by the controls' own events.
  const DEFAULTS = {
    model: MODELS[1],
    level: 'High',
    prompt: '',
    temperature: 1,
    topP: 0.95,
    maxTokens: 65536,
    search: false,
    url: false,
    system: '',
  };
  const state = { ...DEFAULTS };
  let inFlight = null;
  let overlay = null;

  if ($('meta[name=replica-signed-in]').content !== 'yes') {
    // Google's sign-in form instead of the app.
    main.innerHTML =
      '<form class="sign-in"><p>Sign in to continue to Google AI Studio</p>' +
      '<input type="email" name="identifier" aria-label="Email or phone"><button type="button">Next</button></form>';
    $('aside.run-settings').hidden = true;
    return;
  }

  const number = (input, key) => {
    const read = () => {
      const value = Number(input.value);
      if (input.value !== '' && Number.isFinite(value)) state[key] = value;
    };
    input.addEventListener('input', read);
    input.addEventListener('change', read);
  };
  number(temperature, 'temperature');
  number(topP, 'topP');
  number(maxTokens, 'maxTokens');
  composer.addEventListener('input', () => {
    state.prompt = composer.value;
    refreshRun();
  });
  composer.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      send();
    }
  });
  advanced.addEventListener('click', () => {
    const open = advanced.getAttribute('aria-expanded') !== 'true';
    advanced.setAttribute('aria-expanded', String(open));
    $('.advanced-settings').hidden = !open;
  });
  const toggle = (button, key) =>
    button.addEventListener('click', () => {
      if (button.disabled) return;
      setSwitch(button, !state[key]);
      state[key] = !state[key];
    });
  const setSwitch = (button, on) => {
    button.classList.toggle('mdc-switch--selected', on);
    button.setAttribute('aria-checked', String(on));
  };
  toggle(searchSwitch, 'search');
  toggle(urlSwitch, 'url');

  function closeOverlay() {
    if (overlay) overlay.remove();
    overlay = null;
  }
  function showModel() {
    const m = state.model;
    modelName.textContent = m.label;
    levelRow.hidden = m.levels.length === 0;
    if (m.levels.length && !m.levels.includes(state.level)) state.level = 'High';
    levelSelect.querySelector('.mat-mdc-select-value-text').textContent = m.levels.length ? state.level : '';
    temperature.parentElement.hidden = !m.sampling;
    topP.parentElement.hidden = !m.sampling;
    // Gemma always grounds with Search and has no URL context.
    const gemma = m.family === 'gemma';
    if (gemma) {
      state.search = true;
      state.url = false;
      setSwitch(searchSwitch, true);
      setSwitch(urlSwitch, false);
    }
    searchSwitch.disabled = gemma;
    $('.url-context-row').hidden = gemma;
  }

  modelCard.addEventListener('click', () => {
    closeOverlay();
    overlay = document.createElement('div');
    overlay.className = 'panel';
    const carousel = document.createElement('div');
    carousel.dataset.testId = 'model-carousel-in-selector';
    carousel.setAttribute('data-test-id', 'model-carousel-in-selector');
    const rows = document.createElement('div');
    let family = 'gemini';
    const fill = () => {
      rows.replaceChildren();
      for (const m of MODELS) {
        if (family !== 'all' && m.family !== family) continue;
        const row = document.createElement('button');
        row.type = 'button';
        row.id = 'model-carousel-row-models/' + m.id;
        row.textContent = m.label;
        row.addEventListener('click', () => {
          state.model = m;
          state.level = 'High';
          showModel();
          closeOverlay();
        });
        rows.append(row);
      }
    };
    for (const [name, value] of [['All', 'all'], ['Gemini', 'gemini'], ['Gemma', 'gemma']]) {
      const chip = document.createElement('button');
      chip.type = 'button';
      chip.className = 'family-filter';
      chip.textContent = name;
      chip.addEventListener('click', () => {
        family = value;
        fill();
      });
      carousel.append(chip);
    }
    fill();
    carousel.append(rows);
    overlay.append(carousel);
    document.body.append(overlay);
  });

  levelSelect.addEventListener('click', () => {
    closeOverlay();
    overlay = document.createElement('div');
    overlay.setAttribute('role', 'listbox');
    for (const level of state.model.levels) {
      const option = document.createElement('mat-option');
      option.setAttribute('role', 'option');
      option.setAttribute('aria-selected', String(level === state.level));
      option.textContent = level;
      option.addEventListener('click', () => {
        state.level = level;
        showModel();
        closeOverlay();
      });
      overlay.append(option);
    }
    document.body.append(overlay);
  });

  safetyButton.addEventListener('click', () => {
    closeOverlay();
    overlay = document.createElement('div');
    overlay.className = 'panel run-safety-settings';
    SAFETY.forEach((name, i) => {
      const row = document.createElement('label');
      row.textContent = name + ' ';
      const range = document.createElement('input');
      range.type = 'range';
      range.min = '0';
      range.max = '4';
      range.step = '1';
      range.value = String(safety[i]);
      range.setAttribute('aria-label', name);
      const read = () => (safety[i] = Number(range.value));
      range.addEventListener('input', read);
      range.addEventListener('change', read);
      row.append(range);
      overlay.append(row);
    });
    const close = document.createElement('button');
    close.type = 'button';
    close.setAttribute('aria-label', 'Close run settings');
    close.textContent = 'Close';
    close.addEventListener('click', closeOverlay);
    overlay.append(close);
    document.body.append(overlay);
  });

  systemCard.addEventListener('click', () => {
    closeOverlay();
    overlay = document.createElement('div');
    overlay.className = 'panel system-instructions-panel';
    const title = document.createElement('input');
    title.setAttribute('aria-label', 'Title');
    const text = document.createElement('textarea');
    text.setAttribute('aria-label', 'System instructions');
    text.value = state.system;
    const saving = document.createElement('div');
    saving.className = 'saving-status';
    saving.textContent = 'Saved';
    let timer = null;
    text.addEventListener('input', () => {
      saving.classList.remove('visible');
      clearTimeout(timer);
      timer = setTimeout(() => {
        state.system = text.value;
        saving.classList.add('visible');
      }, 150);
    });
    const close = document.createElement('button');
    close.type = 'button';
    close.setAttribute('data-test-close-button', '');
    close.setAttribute('aria-label', 'Close panel');
    close.textContent = '×';
    close.addEventListener('click', closeOverlay);
    overlay.append(title, text, saving, close);
    document.body.append(overlay);
  });

  function refreshRun() {
    if (inFlight) return;
    run.disabled = state.prompt.trim() === '';
  }
  function showRun() {
    run.textContent = 'Run';
    run.setAttribute('aria-label', 'Run');
    refreshRun();
  }
  function showStop() {
    run.textContent = 'Stop';
    run.setAttribute('aria-label', 'Stop');
    run.disabled = false;
  }
  run.addEventListener('click', (event) => {
    if (inFlight) return stop();
    const since = event.timeStamp - 2000;
    runClick = [event.isTrusted ? 1 : 0, moves.filter((t) => t >= since).length];
    send();
  });

  const turn = (role, text) => {
    const div = document.createElement('div');
    div.className = 'chat-turn-container ' + role;
    div.textContent = text;
    turns.append(div);
    return div;
  };

  function body(id) {
    const m = state.model;
    const content = (text, role = 'user') => [[[null, text]], role];
    const click = runClick;
    runClick = null;
    return [
      'models/' + m.id,
      [...chat.map((t) => content(t.text, t.role)), content(state.prompt)],
      SAFETY.map((name, i) => [name, safety[i]]),
      [null, null, null, state.maxTokens, m.sampling ? state.temperature : null, m.sampling ? state.topP : null],
      state.system.trim() ? content(state.system) : null,
      [state.search ? 1 : 0, state.url ? 1 : 0],
      m.levels.length ? state.level.toLowerCase() : null,
      id,
      temporary ? 1 : 0,
      click,
    ];
  }

  async function send() {
    if (inFlight || state.prompt.trim() === '') return;
    const id = crypto.randomUUID();
    const controller = new AbortController();
    inFlight = { id, controller };
    const payload = body(id);
    chat.push({ role: 'user', text: state.prompt });
    turn('user', state.prompt);
    composer.value = '';
    state.prompt = '';
    showStop();
    const reply = turn('model', '');
    try {
      const resp = await fetch(RPC + 'GenerateContent', {
        method: 'POST',
        credentials: 'include',
        headers: { 'content-type': 'application/json+protobuf' },
        body: JSON.stringify(payload),
        signal: controller.signal,
      });
      const text = await resp.text();
      if (!resp.ok) {
        reply.classList.add('error-message');
        reply.textContent = text || 'HTTP ' + resp.status;
        return;
      }
      chat.push(render(reply, text));
    } catch (err) {
      if (err.name !== 'AbortError') {
        reply.classList.add('error-message');
        reply.textContent = String(err);
      }
    } finally {
      if (inFlight && inFlight.controller === controller) {
        inFlight = null;
        showRun();
      }
    }
  }

  // The model turn's edit button (shown on hover): an editor in the turn; Ctrl+Enter saves.
  function editable(reply, entry) {
    const edit = document.createElement('button');
    edit.type = 'button';
    edit.className = 'toggle-edit-button';
    edit.setAttribute('aria-label', 'Edit');
    edit.hidden = true;
    reply.addEventListener('mouseover', () => (edit.hidden = false));
    reply.addEventListener('mouseleave', () => (edit.hidden = true));
    edit.addEventListener('click', () => {
      const editor = document.createElement('textarea');
      editor.value = entry.text;
      editor.addEventListener('keydown', (event) => {
        if (event.key !== 'Enter' || !(event.ctrlKey || event.metaKey)) return;
        event.preventDefault();
        entry.text = editor.value;
        reply.replaceChildren(entry.text, edit);
        edit.hidden = true;
      });
      reply.replaceChildren(editor);
      editor.focus();
    });
    reply.append(edit);
  }

  // The whole answer: thought parts (index 12 == 1) and text parts. Returns the chat entry.
  function render(reply, text) {
    let events = [];
    const entry = { role: 'model', text: '' };
    try {
      events = JSON.parse(text.replace(/^\s*\)\]\}'/, '') || '[[]]')[0] || [];
    } catch (err) {
      reply.classList.add('error-message');
      reply.textContent = 'Something went wrong.';
      return entry;
    }
    let thoughts = '';
    let answer = '';
    for (const event of events) {
      const parts = (((event || [])[0] || [])[0] || [])[0];
      for (const part of (parts && parts[0]) || []) {
        if (typeof part[1] !== 'string') continue;
        if (part[12] === 1) thoughts += part[1];
        else answer += part[1];
      }
    }
    if (/content blocked/i.test(text)) {
      const ratings = document.createElement('button');
      ratings.type = 'button';
      ratings.className = 'safety-ratings';
      ratings.setAttribute('aria-label', 'Safety Ratings');
      ratings.textContent = 'Content blocked';
      reply.append(ratings);
    }
    if (thoughts) {
      const t = document.createElement('div');
      t.className = 'thoughts';
      t.textContent = thoughts;
      reply.append(t);
    }
    reply.append(answer);
    entry.text = answer;
    editable(reply, entry);
    return entry;
  }

  function stop() {
    const current = inFlight;
    if (!current) return;
    inFlight = null;
    current.controller.abort();
    fetch(RPC + 'StopGeneration', {
      method: 'POST',
      credentials: 'include',
      headers: { 'content-type': 'application/json+protobuf' },
      body: JSON.stringify([current.id]),
    }).catch(() => {});
    showRun();
  }

  // === hook changes (tests only) ===
  const CHANGES = {
    chat_box: {
      name: () => composer.removeAttribute('aria-label'),
      class: () => composer.removeAttribute('cdktextareaautosize'),
    },
    send: {
      name: () => run.setAttribute('aria-label', 'Go'),
      class: () => run.setAttribute('name', 'go-button'),
    },
  };
  const [hook, how] = ($('meta[name=replica-hook-change]').content || '').split(':');
  if (CHANGES[hook]) {
    if (how === 'name' || how === 'all') CHANGES[hook].name();
    if (how === 'class' || how === 'all') CHANGES[hook].class();
  }

  // A new chat (the start URL, through the app's router): every setting back to its default.
  function newChat() {
    if (inFlight) stop();
    closeOverlay();
    Object.assign(state, DEFAULTS);
    chat = [];
    runClick = null;
    if (dropsIncognito && !dropped && /incognito=true/.test(location.search)) {
      // A redirect that loses the parameter (once per page).
      dropped = true;
      history.replaceState(null, '', location.pathname);
    }
    temporary = new URLSearchParams(location.search).get('incognito') === 'true';
    $('.temporary-chat').hidden = !temporary;
    turns.replaceChildren();
    composer.value = '';
    temperature.value = '1';
    topP.value = '0.95';
    maxTokens.value = '65536';
    setSwitch(searchSwitch, false);
    setSwitch(urlSwitch, false);
    showModel();
    refreshRun();
  }
  window.addEventListener('popstate', newChat);
  newChat();
})();
