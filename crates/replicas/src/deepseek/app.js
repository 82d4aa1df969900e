// DeepSeek replica page logic: toggles, the send flow (session → PoW challenge → completion),
// live rendering of the patch stream, and the Send/Stop control.
'use strict';

(() => {
  const $ = (selector) => document.querySelector(selector);
  const input = $('#chat-input');
  const control = $('[role=button].ds-button._52c986b');
  const messages = $('#messages');
  const fileInput = $('input[type=file]');
  const fileChips = $('.ds-file-chips');
  const newChat = $('div._5a8ac7a.a084f19e');
  const toggles = {};
  for (const toggle of document.querySelectorAll('.ds-toggle-button')) {
    toggles[toggle.textContent.trim()] = toggle;
  }
  const SEND_ICON = control.innerHTML;
  const STOP_ICON =
    '<svg data-icon="stop" viewBox="0 0 16 16"><rect x="4" y="4" width="8" height="8" rx="1"/></svg>';

  // Chat state: the session and the last reply id (parent of the next message).
  let sessionId = null;
  let parentMessageId = null;
  // The exchange in flight: { controller, sessionId, messageId } or null.
  let inFlight = null;
  // Files attached to the next message: { id (null while uploading), name }.
  let attached = [];

  // === composer ===

  // Disabled is the class ds-button--disabled alone, as on the site.
  const isDisabled = () => control.classList.contains('ds-button--disabled');
  function refreshControl() {
    if (inFlight) {
      control.innerHTML = STOP_ICON;
      control.classList.remove('ds-button--disabled');
    } else {
      control.innerHTML = SEND_ICON;
      // Send waits for every upload; a message may be files alone.
      const uploading = attached.some((f) => f.id === null);
      const empty = input.value.trim() === '' && attached.length === 0;
      control.classList.toggle('ds-button--disabled', uploading || empty);
    }
  }

  input.addEventListener('input', refreshControl);

  // Uploads each chosen file at once (as the site does), shown as a chip until sent.
  fileInput.addEventListener('change', async () => {
    const chosen = [...fileInput.files];
    fileInput.value = '';
    await Promise.all(chosen.map(async (file) => {
      const entry = { id: null, name: file.name };
      const chip = document.createElement('div');
      chip.className = 'ds-file-chip';
      chip.textContent = file.name + ' (uploading)';
      fileChips.append(chip);
      attached.push(entry);
      refreshControl();
      const resp = await fetch('/api/v0/file/upload_file', {
        method: 'POST',
        headers: { 'x-file-name': encodeURIComponent(file.name), ...auth() },
        body: file,
      });
      const body = await resp.json();
      entry.id = body.data.biz_data.id;
      chip.textContent = file.name;
      refreshControl();
    }));
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!inFlight) send();
    }
  });

  const radios = [...document.querySelectorAll('[role=radiogroup] [role=radio]')];
  for (const radio of radios) {
    radio.addEventListener('click', () => {
      for (const other of radios) {
        const selected = other === radio;
        other.setAttribute('aria-checked', selected ? 'true' : 'false');
        other.tabIndex = selected ? 0 : -1;
      }
    });
  }

  for (const toggle of Object.values(toggles)) {
    toggle.addEventListener('click', () => toggle.classList.toggle('ds-toggle-button--selected'));
  }

  function toggleOn(label) {
    const toggle = toggles[label];
    return !!toggle && toggle.classList.contains('ds-toggle-button--selected');
  }

  function modelType() {
    const selected = radios.find((r) => r.getAttribute('aria-checked') === 'true');
    return selected ? selected.dataset.modelType || selected.dataset.kind : 'default';
  }

  control.addEventListener('click', () => {
    if (inFlight) {
      stop();
    } else if (!isDisabled()) {
      send();
    }
  });

  newChat.addEventListener('click', () => {
    if (inFlight) inFlight.controller.abort();
    inFlight = null;
    sessionId = null;
    parentMessageId = null;
    messages.replaceChildren();
    attached = [];
    fileChips.replaceChildren();
    history.pushState(null, '', '/');
    refreshControl();
  });

  // === send flow ===

  // The API token the sign-in left in local storage, sent with every API call as the site does.
  const auth = () => {
    try {
      const token = JSON.parse(localStorage.getItem('userToken') || 'null');
      return token && token.value ? { authorization: 'Bearer ' + token.value } : {};
    } catch (e) {
      return {};
    }
  };

  async function postJson(path, body) {
    const resp = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth() },
      body: JSON.stringify(body),
    });
    return resp.json();
  }

  // Solves the challenge as the site's worker does: the answer in 0..difficulty whose hash of
  // "<salt>_<expire_at>_<answer>" is the challenge. (The site hashes with its DeepSeekHashV1 in
  // WASM; the replica with the browser's SHA-256.)
  async function powHeader(challenge) {
    const prefix = challenge.salt + '_' + challenge.expire_at + '_';
    const encoder = new TextEncoder();
    let found = null;
    for (let n = 0; n < challenge.difficulty && found === null; n++) {
      const digest = await crypto.subtle.digest('SHA-256', encoder.encode(prefix + n));
      const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
      if (hex === challenge.challenge) found = n;
    }
    if (found === null) throw new Error('the PoW challenge has no answer');
    const answer = {
      algorithm: challenge.algorithm,
      challenge: challenge.challenge,
      salt: challenge.salt,
      answer: found,
      signature: challenge.signature,
      target_path: challenge.target_path,
    };
    return btoa(JSON.stringify(answer));
  }

  function addUserMessage(prompt) {
    const outer = document.createElement('div');
    outer.className = '_9663006';
    const inner = document.createElement('div');
    inner.className = 'fbb737a4';
    inner.textContent = prompt;
    outer.append(inner);
    messages.append(outer);
  }

  function addAssistantMessage() {
    const message = document.createElement('div');
    message.className = 'ds-message';
    const think = document.createElement('div');
    think.className = 'ds-think';
    think.hidden = true;
    const markdown = document.createElement('div');
    markdown.className = 'ds-markdown';
    message.append(think, markdown);
    messages.append(message);
    return { message, think, markdown };
  }

  async function send() {
    const prompt = input.value;
    if (prompt.trim() === '' && attached.length === 0) return;
    if (attached.some((f) => f.id === null)) return;
    const fileIds = attached.map((f) => f.id);
    const fileNames = attached.map((f) => f.name);
    attached = [];
    fileChips.replaceChildren();
    input.value = '';
    const controller = new AbortController();
    inFlight = { controller, sessionId: null, messageId: null };
    refreshControl();
    addUserMessage(fileNames.length ? [...fileNames, prompt].join('\n') : prompt);
    const view = addAssistantMessage();
    try {
      if (!sessionId) {
        const created = await postJson('/api/v0/chat_session/create', { character_id: null });
        sessionId = created.data.biz_data.id;
        history.pushState(null, '', '/a/chat/s/' + sessionId);
      }
      inFlight.sessionId = sessionId;
      const pow = await postJson('/api/v0/chat/create_pow_challenge', {
        target_path: '/api/v0/chat/completion',
      });
      const resp = await fetch('/api/v0/chat/completion', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...auth(),
          'x-ds-pow-response': await powHeader(pow.data.biz_data.challenge),
        },
        body: JSON.stringify({
          chat_session_id: sessionId,
          parent_message_id: parentMessageId,
          model_type: modelType(),
          prompt,
          ref_file_ids: fileIds,
          thinking_enabled: toggleOn('DeepThink'),
          search_enabled: toggleOn('Search'),
          preempt: false,
        }),
        signal: controller.signal,
      });
      if (!resp.ok) {
        const body = await resp.json().catch(() => ({}));
        showError(view, body.msg || 'HTTP ' + resp.status);
        return;
      }
      await readStream(resp, view);
    } catch (err) {
      if (err.name !== 'AbortError') showError(view, String(err));
    } finally {
      if (inFlight && inFlight.controller === controller) {
        inFlight = null;
        refreshControl();
      }
    }
  }

  function stop() {
    const current = inFlight;
    inFlight = null;
    current.controller.abort();
    if (current.sessionId) {
      postJson('/api/v0/chat/stop_stream', {
        chat_session_id: current.sessionId,
        message_id: current.messageId,
      }).catch(() => {});
    }
    refreshControl();
  }

  function showError(view, text) {
    view.markdown.classList.add('ds-error');
    view.markdown.textContent = text;
  }

  // === patch stream ===

  async function readStream(resp, view) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    const state = { fragments: [], view };
    let buffered = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        if (line.startsWith('data: ')) applyPatch(state, JSON.parse(line.slice(6)));
      }
    }
  }

  function applyPatch(state, patch) {
    if (patch.response_message_id !== undefined) {
      if (inFlight) inFlight.messageId = patch.response_message_id;
      parentMessageId = patch.response_message_id;
    } else if (patch.v && typeof patch.v === 'object' && patch.v.response) {
      state.fragments = patch.v.response.fragments.map((f) => ({ ...f }));
    } else if (patch.p === 'response/fragments' && patch.o === 'APPEND') {
      state.fragments.push(...patch.v.map((f) => ({ ...f })));
    } else if (typeof patch.v === 'string' && (!patch.p || patch.p.endsWith('/content'))) {
      const last = state.fragments[state.fragments.length - 1];
      if (last) last.content += patch.v;
    }
    render(state);
  }

  function render(state) {
    const think = state.fragments.filter((f) => f.type === 'THINK').map((f) => f.content);
    const answer = state.fragments.filter((f) => f.type === 'RESPONSE').map((f) => f.content);
    state.view.think.hidden = think.length === 0;
    state.view.think.textContent = think.join('');
    state.view.markdown.textContent = answer.join('');
  }

  // === hook changes (tests only) ===
  // The replica can play a site that renamed one hook: its accessible name / text ("name"), its
  // class names and id ("class"), or both ("all"). The elements above are already bound.
  const renameClass = (el, from, to) => {
    if (el.classList.contains(from)) el.classList.replace(from, to);
  };
  const CHANGES = {
    chat_box: {
      name: () => input.setAttribute('placeholder', 'Ask anything'),
      class: () => (input.id = 'prompt-box'),
    },
    new_chat: {
      name: () => (newChat.textContent = 'Start over'),
      class: () => {
        renameClass(newChat, '_5a8ac7a', '_c0ffee1');
        renameClass(newChat, 'a084f19e', 'b00b1e5');
      },
    },
    model_picker: {
      name: () => {
        $('[role=radiogroup]').removeAttribute('role');
        for (const r of radios) r.removeAttribute('role');
      },
      class: () => {
        for (const r of radios) {
          r.dataset.kind = r.dataset.modelType;
          delete r.dataset.modelType;
        }
      },
    },
    deep_think: {
      name: () => toggles.DeepThink.removeAttribute('role'),
      class: () => renameClass(toggles.DeepThink, 'ds-toggle-button', 'ds-chip'),
    },
    search: {
      name: () => toggles.Search.removeAttribute('role'),
      class: () => renameClass(toggles.Search, 'ds-toggle-button', 'ds-chip'),
    },
    send: {
      name: () => control.removeAttribute('role'),
      class: () => {
        renameClass(control, '_52c986b', '_7e4d1a2');
        renameClass(control, 'ds-button', 'ds-btn');
        renameClass(control, 'ds-button--circle', 'ds-btn--round');
      },
    },
  };
  const [hook, how] = ($('meta[name=replica-hook-change]').content || '').split(':');
  if (CHANGES[hook]) {
    if (how === 'name' || how === 'all') CHANGES[hook].name();
    if (how === 'class' || how === 'all') CHANGES[hook].class();
  }

  refreshControl();
})();
