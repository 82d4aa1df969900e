// QwenLM replica page logic: the first-run welcome dialog, account settings, the model popup,
// the thinking select (Auto / Thinking / Fast), the mode menu (web search), the send flow (new
// chat → completion with the anti-bot bx-* headers), live rendering of the stream, Send/Stop.
'use strict';

(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const input = $('textarea.message-input-textarea');
  const files = $('.message-input-files');
  const sendSlot = $('div.chat-prompt-send-button');
  const messages = $('#messages');
  const modelText = $("[class*='model-selector-text']");
  const modelButton = modelText.parentElement;
  const thinkingSelect = $('div.qwen-thinking-select');
  const thinkingLabel = $('div.qwen-select-thinking-label');
  const modeSelect = $('div.mode-select');
  const currentMode = $('div.mode-select-current-mode');
  const newChatEntry = $('div.sidebar-entry-fixed-list-content').parentElement;

  // A long list, shown three at a time until "Expand more models".
  const MODELS = [
    { id: 'qwen3.5-plus', name: 'Qwen3.5-Plus' },
    { id: 'qwen3-max', name: 'Qwen3-Max' },
    { id: 'qwen3.5-flash', name: 'Qwen3.5-Flash' },
    { id: 'qwen3-coder-plus', name: 'Qwen3-Coder' },
    { id: 'qwen3-vl-plus', name: 'Qwen3-VL-235B-A22B' },
    { id: 'qwen2.5-max', name: 'Qwen2.5-Max' },
  ];
  // Longer pasted text becomes a file while `ui.largeTextAsFile` is on.
  const LARGE_TEXT_CHARS = 10000;

  // Composer settings, applied to the next send.
  const composer = { model: MODELS[0], thinking: 'Auto', search: false };
  // The account settings, read at load and on every new chat.
  let account = { ui: { largeTextAsFile: true } };
  let chatId = null;
  // The exchange in flight: { controller, chatId } or null.
  let inFlight = null;
  let openPopup = null;
  let welcome = null;

  // === account settings and the first-run dialog ===

  async function loadSettings() {
    try {
      const resp = await fetch('/api/v2/users/user/settings');
      account = (await resp.json()).data || account;
    } catch (_) {
      // Keep the last known settings.
    }
  }

  function showWelcome() {
    if (localStorage.getItem('qwen-welcomed')) return;
    welcome = document.createElement('div');
    welcome.className = 'qwen-chat-modal-mask';
    welcome.setAttribute('role', 'dialog');
    welcome.innerHTML =
      '<div class="qwen-chat-modal-content"><h3>Welcome to Qwen Chat</h3>' +
      '<p>Qwen can make mistakes.</p><button type="button" class="qwen-chat-modal-ok">Got it</button></div>';
    $('button', welcome).addEventListener('click', () => {
      localStorage.setItem('qwen-welcomed', '1');
      welcome.remove();
      welcome = null;
    });
    document.body.append(welcome);
  }

  // === popups ===

  function closePopup() {
    if (!openPopup) return;
    openPopup.remove();
    openPopup = null;
  }

  function showPopup(popup, anchor) {
    closePopup();
    popup.classList.add('popup');
    const rect = anchor.getBoundingClientRect();
    popup.style.left = rect.left + 'px';
    popup.style.top = rect.bottom + 4 + window.scrollY + 'px';
    if (rect.bottom + 200 > window.innerHeight) popup.style.top = Math.max(0, rect.top - 200) + 'px';
    document.body.append(popup);
    openPopup = popup;
  }

  function modelPopup(all) {
    const popup = document.createElement('div');
    popup.className = 'model-selector-popup___p0pUp';
    const list = document.createElement('div');
    list.className = 'model-list___L1st';
    for (const model of all ? MODELS : MODELS.slice(0, 3)) {
      const item = document.createElement('div');
      item.className = 'model-item___Mi7m';
      item.innerHTML = '<div class="model-item-name___N4m"><span></span></div>';
      $('span', item).textContent = model.name;
      item.addEventListener('click', () => {
        composer.model = model;
        modelText.textContent = model.name;
        closePopup();
      });
      list.append(item);
    }
    popup.append(list);
    if (!all) {
      const more = document.createElement('div');
      more.className = 'view-more___V13w';
      more.textContent = 'Expand more models';
      more.addEventListener('click', (event) => {
        event.stopPropagation();
        showPopup(modelPopup(true), modelButton);
      });
      popup.append(more);
    }
    return popup;
  }

  modelButton.addEventListener('click', (event) => {
    event.stopPropagation();
    if (openPopup && openPopup.matches("[class*='model-selector-popup']")) return closePopup();
    showPopup(modelPopup(false), modelButton);
  });

  thinkingSelect.addEventListener('click', (event) => {
    event.stopPropagation();
    if (openPopup && openPopup.classList.contains('ant-select-dropdown')) return closePopup();
    const popup = document.createElement('div');
    popup.className = 'ant-select-dropdown';
    const holder = document.createElement('div');
    holder.className = 'rc-virtual-list-holder-inner';
    for (const mode of ['Auto', 'Thinking', 'Fast']) {
      const option = document.createElement('div');
      option.className = 'ant-select-item ant-select-item-option';
      option.setAttribute('title', mode);
      option.innerHTML = '<div class="ant-select-item-option-content"></div>';
      option.firstChild.textContent = mode;
      option.addEventListener('click', () => {
        composer.thinking = mode;
        thinkingLabel.textContent = mode;
        closePopup();
      });
      holder.append(option);
    }
    popup.append(holder);
    showPopup(popup, thinkingSelect);
  });

  function renderMode() {
    currentMode.replaceChildren();
    if (!composer.search) return;
    const label = document.createElement('span');
    label.textContent = 'Search';
    const close = document.createElement('span');
    close.className = 'mode-select-current-mode-close';
    close.textContent = '×';
    close.addEventListener('click', (event) => {
      event.stopPropagation();
      composer.search = false;
      renderMode();
    });
    currentMode.append(label, close);
  }

  modeSelect.addEventListener('click', (event) => {
    event.stopPropagation();
    if (openPopup && openPopup.classList.contains('mode-select-menu')) return closePopup();
    const menu = document.createElement('ul');
    menu.className = 'mode-select-menu';
    for (const [key, text] of [['search', 'Web Search'], ['upload', 'Upload attachment']]) {
      const item = document.createElement('li');
      item.className = 'mode-select-common-item';
      item.dataset.menuId = 'rc-menu-uuid-' + key;
      item.innerHTML = '<span></span>';
      item.firstChild.textContent = text;
      item.addEventListener('click', () => {
        if (key === 'search') composer.search = true;
        renderMode();
        closePopup();
      });
      menu.append(item);
    }
    showPopup(menu, modeSelect);
  });

  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closePopup();
  });
  document.addEventListener('click', (event) => {
    if (openPopup && !openPopup.contains(event.target)) closePopup();
  });

  // === composer ===

  // The Send button only exists while the box holds text; Stop replaces it while streaming.
  function renderSendSlot() {
    sendSlot.replaceChildren();
    const button = document.createElement('button');
    button.type = 'button';
    if (inFlight) {
      button.className = 'stop-button';
      button.innerHTML = '<svg viewBox="0 0 16 16" width="16" height="16"><rect x="4" y="4" width="8" height="8" fill="currentColor"/></svg>';
      button.addEventListener('click', stop);
    } else if (input.value.trim() !== '') {
      button.className = 'send-button';
      button.innerHTML = '<svg viewBox="0 0 16 16" width="16" height="16"><path d="M8 2 L14 9 H10 V14 H6 V9 H2 Z" fill="currentColor"/></svg>';
      button.addEventListener('click', send);
    } else {
      return;
    }
    sendSlot.append(button);
  }

  input.addEventListener('input', () => {
    if (account.ui && account.ui.largeTextAsFile && input.value.length > LARGE_TEXT_CHARS) {
      const chip = document.createElement('div');
      chip.className = 'fileitem-btn';
      chip.textContent = 'pasted-text.txt (' + input.value.length + ' characters)';
      files.append(chip);
      input.value = '';
    }
    if (!inFlight) renderSendSlot();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!inFlight) send();
    }
  });

  newChatEntry.addEventListener('click', () => {
    if (inFlight) inFlight.controller.abort();
    inFlight = null;
    chatId = null;
    messages.replaceChildren();
    files.replaceChildren();
    history.pushState(null, '', '/c/new-chat');
    loadSettings();
    renderSendSlot();
  });

  // === send flow ===

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return 'xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx'.replace(/x/g, () => Math.floor(Math.random() * 16).toString(16));
  }

  // Alibaba's anti-bot fingerprint headers, freshly made for every request.
  function bxHeaders() {
    const noise = () => Math.random().toString(36).slice(2);
    return { 'bx-ua': '231!' + noise() + noise(), 'bx-umidtoken': 'T2gA' + noise(), 'bx-v': '2.5.31' };
  }

  function addMessages(prompt) {
    const user = document.createElement('div');
    user.className = 'user-message';
    user.textContent = prompt;
    const assistant = document.createElement('div');
    assistant.className = 'response-message';
    const thinking = document.createElement('div');
    thinking.className = 'thinking-summary';
    thinking.hidden = true;
    const answer = document.createElement('div');
    answer.className = 'response-message-content';
    assistant.append(thinking, answer);
    messages.append(user, assistant);
    return { thinking, answer };
  }

  async function send() {
    if (welcome) return; // The dialog covers the composer.
    const prompt = input.value;
    if (prompt.trim() === '') return;
    input.value = '';
    const controller = new AbortController();
    inFlight = { controller, chatId: null };
    renderSendSlot();
    const view = addMessages(prompt);
    try {
      const chatType = composer.search ? 'search' : 't2t';
      if (!chatId) {
        const resp = await fetch('/api/v2/chats/new', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ title: 'New Chat', models: [composer.model.id], chat_mode: 'normal', chat_type: chatType, timestamp: Date.now() }),
        });
        chatId = (await resp.json()).data.id;
        history.pushState(null, '', '/c/' + chatId);
      }
      inFlight.chatId = chatId;
      const thinkingEnabled = composer.thinking !== 'Fast';
      const resp = await fetch('/api/v2/chat/completions?chat_id=' + chatId, {
        method: 'POST',
        headers: Object.assign({ 'content-type': 'application/json', 'x-accel-buffering': 'no' }, bxHeaders()),
        body: JSON.stringify({
          stream: true,
          incremental_output: true,
          chat_id: chatId,
          chat_mode: 'normal',
          model: composer.model.id,
          parent_id: null,
          messages: [{
            fid: uuid(),
            parentId: null,
            childrenIds: [],
            role: 'user',
            content: prompt,
            user_action: 'chat',
            files: [],
            timestamp: Math.floor(Date.now() / 1000),
            models: [composer.model.id],
            chat_type: chatType,
            feature_config: { thinking_enabled: thinkingEnabled, output_schema: 'phase', auto_thinking: composer.thinking === 'Auto' },
            extra: { meta: { subChatType: chatType } },
            sub_chat_type: chatType,
            parent_id: null,
          }],
          timestamp: Math.floor(Date.now() / 1000),
        }),
        signal: controller.signal,
      });
      const type = resp.headers.get('content-type') || '';
      if (!resp.ok || type.includes('application/json')) {
        const body = await resp.json().catch(() => ({}));
        showError(view, (body.data && (body.data.details || body.data.code)) || 'HTTP ' + resp.status);
        return;
      }
      await readStream(resp, view);
    } catch (err) {
      if (err.name !== 'AbortError') showError(view, String(err));
    } finally {
      if (inFlight && inFlight.controller === controller) {
        inFlight = null;
        renderSendSlot();
      }
    }
  }

  function stop() {
    const current = inFlight;
    if (!current) return;
    inFlight = null;
    current.controller.abort();
    if (current.chatId) {
      fetch('/api/v2/chats/' + current.chatId + '/stop', { method: 'POST' }).catch(() => {});
    }
    renderSendSlot();
  }

  function showError(view, text) {
    view.answer.classList.add('error-message');
    view.answer.textContent = text;
  }

  // === stream ===

  function parts(field) {
    if (!field) return [];
    return Array.isArray(field.content) ? field.content : [field.content || ''];
  }

  async function readStream(resp, view) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let answer = '';
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
        if (event.error) {
          showError(view, event.error.details || event.error.code);
          return;
        }
        const delta = event.choices && event.choices[0] && event.choices[0].delta;
        if (!delta) continue;
        if (delta.phase === 'thinking_summary' && delta.extra) {
          const titles = parts(delta.extra.summary_title);
          const thoughts = parts(delta.extra.summary_thought);
          view.thinking.hidden = false;
          view.thinking.textContent = titles.map((t, i) => t + '\n' + (thoughts[i] || '')).join('\n\n');
        } else if (delta.phase === 'answer' && delta.content) {
          answer += delta.content;
          view.answer.textContent = answer;
        }
      }
    }
  }

  loadSettings();
  showWelcome();
  renderSendSlot();
})();
