// GLM Chat replica page logic: model menu, search toggle, Deep Think menu, the send flow
// (new chat → completion), live rendering of the chat:completion stream, and Send/Stop.
'use strict';

(() => {
  const $ = (selector) => document.querySelector(selector);
  const input = $('#chat-input');
  const sendButton = $('#send-message-button');
  const sendSlot = $('.send-slot');
  const messages = $('#messages');
  const modelButton = $('button.modelSelectorButton');
  const thinkTrigger = $('div.think-trigger');
  const searchToggle = thinkTrigger.previousElementSibling;
  const newChatButton = $('#sidebar-new-chat-button');

  const MODELS = [
    { value: 'glm-5.2', label: 'GLM-5.2' },
    { value: 'glm-5.1', label: 'GLM-5.1' },
    { value: 'GLM-5-Turbo', label: 'GLM-5-Turbo' },
  ];

  // Composer settings, applied to the next send.
  const settings = { model: 'glm-5.2', thinking: true, effort: 'max' };
  // Chat state: the chat id once the first message created it.
  let chatId = null;
  // The exchange in flight: { controller, chatId } or null.
  let inFlight = null;
  // The open menu element (model list or Deep Think), or null.
  let openMenu = null;

  // === menus ===

  function closeMenu() {
    if (!openMenu) return;
    openMenu.remove();
    openMenu = null;
    thinkTrigger.setAttribute('aria-expanded', 'false');
    thinkTrigger.dataset.state = 'closed';
  }

  function showMenu(menu, anchor) {
    closeMenu();
    menu.setAttribute('role', 'menu');
    menu.dataset.state = 'open';
    const rect = anchor.getBoundingClientRect();
    menu.style.left = rect.left + 'px';
    menu.style.top = rect.bottom + 4 + window.scrollY + 'px';
    if (rect.bottom + 160 > window.innerHeight) {
      menu.style.top = Math.max(0, rect.top - 130 + window.scrollY) + 'px';
    }
    document.body.append(menu);
    openMenu = menu;
  }

  function button(attrs, text) {
    const el = document.createElement('button');
    el.type = 'button';
    for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
    if (text) el.textContent = text;
    return el;
  }

  modelButton.addEventListener('click', (event) => {
    event.stopPropagation();
    if (openMenu && openMenu.classList.contains('model-menu')) return closeMenu();
    const menu = document.createElement('div');
    menu.className = 'model-menu';
    for (const model of MODELS) {
      const item = button({ 'aria-label': 'model-item', 'data-value': model.value }, model.label);
      item.addEventListener('click', () => {
        settings.model = model.value;
        modelButton.firstChild.textContent = model.label;
        closeMenu();
      });
      menu.append(item);
    }
    showMenu(menu, modelButton);
  });

  function renderThinkLabel() {
    thinkTrigger.querySelector('span').textContent = settings.thinking
      ? settings.effort === 'max' ? 'Max' : 'High'
      : 'Off';
  }

  function buildThinkMenu() {
    const menu = document.createElement('div');
    menu.className = 'think-menu';
    const row = document.createElement('div');
    row.append('Deep Think ');
    const toggle = button({ role: 'switch', 'aria-checked': String(settings.thinking) });
    toggle.addEventListener('click', () => {
      settings.thinking = !settings.thinking;
      toggle.setAttribute('aria-checked', String(settings.thinking));
      renderThinkLabel();
    });
    row.append(toggle);
    menu.append(row);
    const efforts = [];
    for (const effort of ['high', 'max']) {
      const label = effort === 'max' ? 'Max' : 'High';
      const option = button({ 'data-selected': String(settings.effort === effort) }, label);
      option.addEventListener('click', () => {
        // Picking an effort also turns Deep Think on, as on the site.
        settings.effort = effort;
        settings.thinking = true;
        toggle.setAttribute('aria-checked', 'true');
        for (const other of efforts) other.dataset.selected = String(other === option);
        renderThinkLabel();
      });
      efforts.push(option);
      menu.append(option);
    }
    return menu;
  }

  thinkTrigger.addEventListener('click', (event) => {
    event.stopPropagation();
    if (openMenu && openMenu.classList.contains('think-menu')) return closeMenu();
    showMenu(buildThinkMenu(), thinkTrigger);
    thinkTrigger.setAttribute('aria-expanded', 'true');
    thinkTrigger.dataset.state = 'open';
  });

  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeMenu();
  });
  document.addEventListener('click', (event) => {
    if (openMenu && !openMenu.contains(event.target)) closeMenu();
  });

  searchToggle.addEventListener('click', () => {
    searchToggle.dataset.active = String(searchToggle.dataset.active !== 'true');
  });

  // === composer ===

  function refreshSend() {
    sendButton.disabled = input.value.trim() === '';
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

  // While streaming the send button is replaced by the Stop wrapper, as on the site.
  function showStop() {
    const wrapper = document.createElement('div');
    wrapper.setAttribute('aria-label', 'Stop');
    const stopButton = button({});
    stopButton.innerHTML =
      '<svg viewBox="0 0 16 16" width="16" height="16"><rect x="4" y="4" width="8" height="8" fill="currentColor"/></svg>';
    stopButton.addEventListener('click', stop);
    wrapper.append(stopButton);
    sendButton.replaceWith(wrapper);
  }

  function showSend() {
    const wrapper = sendSlot.querySelector('div[aria-label=Stop]');
    if (wrapper) wrapper.replaceWith(sendButton);
    refreshSend();
  }

  newChatButton.addEventListener('click', () => {
    if (inFlight) inFlight.controller.abort();
    inFlight = null;
    chatId = null;
    messages.replaceChildren();
    history.pushState(null, '', '/');
    showSend();
  });

  // === send flow ===

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return 'xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx'.replace(/x/g, () =>
      Math.floor(Math.random() * 16).toString(16));
  }

  function addMessages(prompt) {
    const user = document.createElement('div');
    user.className = 'user-message';
    user.textContent = prompt;
    const assistant = document.createElement('div');
    assistant.className = 'chat-assistant';
    const thinking = document.createElement('div');
    thinking.className = 'thinking-block';
    thinking.hidden = true;
    const answer = document.createElement('div');
    answer.className = 'markdown-prose';
    assistant.append(thinking, answer);
    messages.append(user, assistant);
    return { thinking, answer };
  }

  async function send() {
    const prompt = input.value;
    if (prompt.trim() === '') return;
    input.value = '';
    const controller = new AbortController();
    inFlight = { controller, chatId: null };
    showStop();
    const view = addMessages(prompt);
    try {
      if (!chatId) {
        const resp = await fetch('/api/v1/chats/new', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ chat: { title: 'New Chat', models: [settings.model], messages: [] } }),
        });
        chatId = (await resp.json()).id;
        history.pushState(null, '', '/c/' + chatId);
      }
      inFlight.chatId = chatId;
      const features = {
        enable_thinking: settings.thinking,
        web_search: searchToggle.dataset.active === 'true',
        auto_web_search: false,
      };
      if (settings.thinking) features.thinking_effort = settings.effort;
      const resp = await fetch('/api/v2/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          stream: true,
          model: settings.model,
          messages: [{ role: 'user', content: prompt }],
          features,
          chat_id: chatId,
          id: uuid(),
        }),
        signal: controller.signal,
      });
      if (!resp.ok) {
        const body = await resp.json().catch(() => ({}));
        showError(view, body.detail || 'HTTP ' + resp.status);
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
    if (current.chatId) {
      fetch('/api/v1/chats/' + current.chatId + '/stop', { method: 'POST' }).catch(() => {});
    }
    showSend();
  }

  function showError(view, text) {
    view.answer.classList.add('error-message');
    view.answer.textContent = text;
  }

  // === chat:completion stream ===

  async function readStream(resp, view) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    const state = { reasoning: '', answer: '', sawEvent: false };
    let buffered = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        if (!line.startsWith('data: ')) continue;
        const event = JSON.parse(line.slice(6));
        state.sawEvent = true;
        if (event.data && event.data.error) {
          showError(view, event.data.error.detail || event.data.error.code);
          return;
        }
        applyEvent(state, event.data || {});
        view.thinking.hidden = state.reasoning === '';
        view.thinking.textContent = state.reasoning;
        view.answer.textContent = state.answer;
      }
    }
    if (!state.sawEvent) showError(view, 'Error code 20001');
  }

  // Reasoning arrives quoted (`> `) inside <details>; the UI shows the plain text.
  function reasoningText(text) {
    return text.replace(/<details[^>]*>\n?/g, '').replace(/<\/details>\n?/g, '').replace(/^> /gm, '');
  }

  function applyEvent(state, data) {
    if (data.phase === 'thinking' && typeof data.delta_content === 'string') {
      state.reasoning += reasoningText(data.delta_content);
    } else if (data.phase === 'answer' && typeof data.edit_content === 'string') {
      const end = data.edit_content.lastIndexOf('</details>');
      if (end >= 0) {
        state.reasoning = reasoningText(data.edit_content.slice(0, end)).replace(/\n$/, '');
        state.answer = data.edit_content.slice(end + '</details>'.length).replace(/^\n/, '');
      } else {
        state.answer = data.edit_content;
      }
    } else if (data.phase === 'answer' && typeof data.delta_content === 'string') {
      state.answer += data.delta_content;
    }
  }

  // === hook changes (tests only) ===
  // The replica can play a site that renamed one hook: its accessible name / text ("name"), its
  // id and class names ("class"), or both ("all"). The elements above are already bound.
  const CHANGES = {
    chat_box: {
      name: () => input.setAttribute('placeholder', 'Send a message'),
      class: () => (input.id = 'prompt-input'),
    },
    new_chat: {
      name: () => (newChatButton.textContent = '+'),
      class: () => (newChatButton.id = 'sidebar-new-thread'),
    },
    model_picker: {
      name: () => {},
      class: () => modelButton.classList.replace('modelSelectorButton', 'model-switch'),
    },
    deep_think: {
      name: () => (thinkTrigger.firstChild.textContent = 'Reasoning '),
      class: () => thinkTrigger.removeAttribute('data-state'),
    },
    search: {
      name: () => {},
      class: () => searchToggle.removeAttribute('data-active'),
    },
    send: {
      name: () => {},
      class: () => (sendButton.id = 'send-button'),
    },
  };
  const [hook, how] = ($('meta[name=replica-hook-change]').content || '').split(':');
  if (CHANGES[hook]) {
    if (how === 'name' || how === 'all') CHANGES[hook].name();
    if (how === 'class' || how === 'all') CHANGES[hook].class();
  }

  renderThinkLabel();
  refreshSend();
})();
