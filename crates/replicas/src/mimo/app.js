// Xiaomi MiMo replica page logic: first-run modals, model list, search toggle, the send flow
// (conversation id → /open-apis/bot/chat), live rendering of the named-event stream, and
// Send/Stop.
'use strict';

(() => {
  const $ = (selector) => document.querySelector(selector);
  const input = $("textarea[data-track-id='home_input']");
  const sendButton = $("[data-track-id='home_send_btn']");
  const sendSlot = $('.send-slot');
  const messages = $('#messages');
  const modelButton = $("[data-track-id='model_select']");
  const searchToggle = $("[data-track-id='web_search_btn']");
  const newChatButton = $("[data-track-id='new_chat_btn']");

  const MODELS = [
    { value: 'mimo-v2.5-pro', label: 'MiMo-V2.5-Pro' },
    { value: 'mimo-v2.5', label: 'MiMo-V2.5' },
  ];

  const settings = { model: 'mimo-v2.5-pro' };
  // The conversation id once the first message of a chat named it.
  let conversationId = null;
  // The exchange in flight: { controller, conversationId } or null.
  let inFlight = null;
  let openList = null;
  // Whether the user agreement was confirmed; until then the composer takes no input.
  let agreed = localStorage.getItem('mimo-agreement') === 'yes';

  const hex = (len) => {
    const bytes = new Uint8Array(len / 2);
    crypto.getRandomValues(bytes);
    return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  };

  const passToken = () => {
    const found = document.cookie.split(';').map((c) => c.trim()).find((c) => c.startsWith('xiaomichatbot_ph='));
    return found ? found.slice('xiaomichatbot_ph='.length).replace(/^"|"$/g, '') : '';
  };

  // === first-run modals ===

  function button(attrs, text) {
    const el = document.createElement('button');
    el.type = 'button';
    for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
    if (text) el.textContent = text;
    return el;
  }

  function showModals() {
    if (localStorage.getItem('mimo-announcement') !== 'seen') {
      const overlay = document.createElement('div');
      overlay.className = 'overlay announcement';
      const box = document.createElement('div');
      box.setAttribute('role', 'dialog');
      box.append('MiMo-V2.5 is here: faster answers and better reasoning. ');
      const close = button({ 'data-track-id': 'announcement_close_btn', 'aria-label': 'Close' }, '×');
      close.addEventListener('click', () => {
        localStorage.setItem('mimo-announcement', 'seen');
        overlay.remove();
      });
      box.append(close);
      overlay.append(box);
      document.body.append(overlay);
    }
    if (!localStorage.getItem('mimo-cookies')) {
      const banner = document.createElement('div');
      banner.className = 'cookie-banner';
      banner.append('We use cookies to improve your experience. ');
      for (const [id, text, value] of [
        ['cookie_accept_btn', 'Accept all', 'all'],
        ['cookie_decline_btn', 'Decline all', 'none'],
      ]) {
        const b = button({ 'data-track-id': id }, text);
        b.addEventListener('click', () => {
          localStorage.setItem('mimo-cookies', value);
          banner.remove();
        });
        banner.append(b);
      }
      document.body.append(banner);
    }
    if (!agreed) {
      input.disabled = true;
      const overlay = document.createElement('div');
      overlay.className = 'overlay agreement';
      const box = document.createElement('div');
      box.setAttribute('role', 'dialog');
      const label = document.createElement('label');
      const check = document.createElement('input');
      check.type = 'checkbox';
      check.dataset.trackId = 'agreement_checkbox';
      label.append(check, ' I have read and agree to the User Agreement and Privacy Policy');
      const confirm = button({ 'data-track-id': 'agreement_confirm_btn', disabled: '' }, 'Confirm');
      check.addEventListener('change', () => (confirm.disabled = !check.checked));
      confirm.addEventListener('click', () => {
        if (!check.checked) return;
        agreed = true;
        localStorage.setItem('mimo-agreement', 'yes');
        input.disabled = false;
        overlay.remove();
      });
      box.append(label, confirm);
      overlay.append(box);
      document.body.append(overlay);
    }
  }

  // === model list ===

  function closeList() {
    if (openList) openList.remove();
    openList = null;
  }

  modelButton.addEventListener('click', (event) => {
    event.stopPropagation();
    if (openList) return closeList();
    const list = document.createElement('div');
    list.setAttribute('role', 'listbox');
    for (const model of MODELS) {
      const option = document.createElement('div');
      option.setAttribute('role', 'option');
      option.dataset.value = model.value;
      option.setAttribute('aria-selected', String(model.value === settings.model));
      option.textContent = model.label;
      option.addEventListener('click', () => {
        settings.model = model.value;
        modelButton.textContent = model.label;
        closeList();
      });
      list.append(option);
    }
    const rect = modelButton.getBoundingClientRect();
    list.style.left = rect.left + 'px';
    list.style.top = rect.bottom + 4 + 'px';
    document.body.append(list);
    openList = list;
  });
  document.addEventListener('click', (event) => {
    if (openList && !openList.contains(event.target)) closeList();
  });

  searchToggle.addEventListener('click', () => {
    const on = searchToggle.getAttribute('aria-pressed') === 'true';
    searchToggle.setAttribute('aria-pressed', String(!on));
  });

  // === composer ===

  function refreshSend() {
    sendButton.disabled = !agreed || input.value.trim() === '';
  }
  input.addEventListener('input', refreshSend);
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!inFlight && !sendButton.disabled) send();
    }
  });
  sendButton.addEventListener('click', () => {
    if (!sendButton.disabled) send();
  });

  // While streaming the send button is replaced by Stop, as on the site.
  const stopButton = button({ 'data-track-id': 'stop_btn', 'aria-label': 'Stop' });
  stopButton.innerHTML =
    '<svg viewBox="0 0 16 16" width="16" height="16"><rect x="4" y="4" width="8" height="8" fill="currentColor"/></svg>';
  stopButton.addEventListener('click', () => stop());

  function showStop() {
    sendButton.replaceWith(stopButton);
  }

  function showSend() {
    if (stopButton.isConnected) stopButton.replaceWith(sendButton);
    refreshSend();
  }

  newChatButton.addEventListener('click', () => {
    if (inFlight) inFlight.controller.abort();
    inFlight = null;
    conversationId = null;
    messages.replaceChildren();
    location.hash = '#/c';
    showSend();
  });

  // === send flow ===

  function addMessages(prompt) {
    const user = document.createElement('div');
    user.className = 'user-message';
    user.textContent = prompt;
    const thinking = document.createElement('div');
    thinking.className = 'thinking-block';
    thinking.hidden = true;
    const answer = document.createElement('div');
    answer.className = 'answer';
    messages.append(user, thinking, answer);
    return { thinking, answer };
  }

  function showError(view, text) {
    view.answer.classList.add('error-message');
    view.answer.textContent = text;
  }

  async function send() {
    const prompt = input.value;
    if (prompt.trim() === '') return;
    input.value = '';
    if (!conversationId) {
      conversationId = hex(32);
      location.hash = '#/chat/' + conversationId;
    }
    const controller = new AbortController();
    inFlight = { controller, conversationId };
    showStop();
    const view = addMessages(prompt);
    try {
      const resp = await fetch('/open-apis/bot/chat?xiaomichatbot_ph=' + encodeURIComponent(passToken()), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({
          msgId: hex(32),
          conversationId,
          query: prompt,
          isEditedQuery: false,
          modelConfig: {
            model: settings.model,
            webSearchStatus: searchToggle.getAttribute('aria-pressed') === 'true' ? 'enabled' : 'disabled',
          },
          multiMedias: [],
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
        showSend();
      }
    }
  }

  function stop() {
    const current = inFlight;
    if (!current) return;
    inFlight = null;
    current.controller.abort();
    fetch('/open-apis/bot/chat/stop', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ conversationId: current.conversationId }),
    }).catch(() => {});
    showSend();
  }

  // === named-event stream ===

  async function readStream(resp, view) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let raw = '';
    let eventName = 'message';
    let buffered = '';
    const render = () => {
      const clean = raw.replace(/\u0000/g, '');
      const open = clean.indexOf('<think>');
      const close = clean.indexOf('</think>');
      if (open >= 0) {
        view.thinking.hidden = false;
        view.thinking.textContent = clean.slice(open + 7, close >= 0 ? close : undefined);
        view.answer.textContent = close >= 0 ? clean.slice(close + 8).replace(/^\n+/, '') : '';
      } else {
        view.answer.textContent = clean;
      }
    };
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        if (line === '') {
          eventName = 'message';
        } else if (line.startsWith('event:')) {
          eventName = line.slice(6).trim();
        } else if (line.startsWith('data:')) {
          const data = line.slice(5).trim();
          if (eventName === 'sensitive_query') {
            showError(view, 'This content may violate our usage policies.');
            return;
          }
          if (eventName === 'finish') return;
          if (eventName === 'message') {
            const payload = JSON.parse(data);
            if (payload.type === 'text') {
              raw += payload.content;
              render();
            }
          }
        }
      }
    }
  }

  // === hook changes (tests only) ===
  // The replica can play a site that renamed one hook: its accessible name / text ("name"), its
  // data-track-id ("class"), or both ("all"). The elements above are already bound.
  const CHANGES = {
    chat_box: {
      name: () => input.setAttribute('placeholder', 'Message MiMo'),
      class: () => input.setAttribute('data-track-id', 'chat_input'),
    },
    new_chat: {
      name: () => (newChatButton.textContent = '+'),
      class: () => newChatButton.setAttribute('data-track-id', 'sidebar_new'),
    },
    model_picker: {
      name: () => modelButton.removeAttribute('aria-haspopup'),
      class: () => modelButton.setAttribute('data-track-id', 'model_switch'),
    },
    search: {
      name: () => (searchToggle.textContent = 'Web'),
      class: () => searchToggle.setAttribute('data-track-id', 'search_toggle'),
    },
    send: {
      name: () => sendButton.setAttribute('aria-label', 'Submit'),
      class: () => sendButton.setAttribute('data-track-id', 'send_btn'),
    },
  };
  const [hook, how] = ($('meta[name=replica-hook-change]').content || '').split(':');
  if (CHANGES[hook]) {
    if (how === 'name' || how === 'all') CHANGES[hook].name();
    if (how === 'class' || how === 'all') CHANGES[hook].class();
  }

  if (!location.hash) location.hash = '#/c';
  showModals();
  refreshSend();
})();
