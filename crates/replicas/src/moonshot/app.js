// Kimi replica page logic: the first-run notice, the model and effort menu, the search switch
// and toolkit, the send flow (one Connect envelope to ChatService/Chat), live rendering of the
// streamed envelopes, and Send/Stop on the one send control.
'use strict';

(() => {
  const $ = (selector) => document.querySelector(selector);
  const editor = $('div.chat-input-editor');
  const sendControl = $('div.send-button-container');
  const messages = $('#messages');
  const modelTrigger = $('div.current-model');
  const modelName = $('div.current-model span.name');
  const searchChip = $('div.tool-switch');
  const toolkitTrigger = $('div.toolkit-trigger-btn');
  const newChatLink = $('a.new-chat-btn');

  const MODELS = [
    { value: 'k3', label: 'K3', efforts: ['Standard', 'High', 'Max'] },
    { value: 'k3-swarm', label: 'K3 Swarm', efforts: ['Standard', 'High', 'Max'] },
    { value: 'k2.8', label: 'K2.8', efforts: ['Standard', 'High', 'Max'] },
    { value: 'instant', label: 'Instant', efforts: ['Standard', 'High'] },
  ];
  const SEND_ICON = sendControl.innerHTML;
  const STOP_ICON =
    '<svg name="Stop" viewBox="0 0 16 16" width="16" height="16"><rect x="4" y="4" width="8" height="8" fill="currentColor"/></svg>';

  const settings = { model: MODELS[0], effort: 'Standard', search: false };
  let chatId = null;
  let inFlight = null;
  let openMenus = [];
  let noticeOpen = false;

  const cookie = (name) => {
    const found = document.cookie.split(';').map((c) => c.trim()).find((c) => c.startsWith(name + '='));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
  };
  const token = cookie('kimi-auth');
  if (token) localStorage.setItem('access_token', token);
  const hex = (len) => {
    const bytes = new Uint8Array(len / 2);
    crypto.getRandomValues(bytes);
    return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  let deviceId = localStorage.getItem('kimi-device-id');
  if (!deviceId) {
    deviceId = hex(16);
    localStorage.setItem('kimi-device-id', deviceId);
  }
  const apiHeaders = (contentType) => ({
    'content-type': contentType,
    authorization: 'Bearer ' + (localStorage.getItem('access_token') || ''),
    'x-msh-device-id': deviceId,
    'x-msh-platform': 'web',
    'x-traffic-id': deviceId,
    'x-language': 'en-US',
  });

  // === first-run notice ===

  function showNotice() {
    if (localStorage.getItem('kimi-notice') === 'seen') return;
    noticeOpen = true;
    editor.setAttribute('contenteditable', 'false');
    const overlay = document.createElement('div');
    overlay.className = 'overlay';
    const dialog = document.createElement('div');
    dialog.className = 'content common-notice-dialog';
    dialog.append('Kimi K3 is here, with Standard, High and Max thinking. ');
    const ok = document.createElement('button');
    ok.type = 'button';
    ok.className = 'kimi-button plain';
    ok.textContent = 'Got it';
    ok.addEventListener('click', () => {
      localStorage.setItem('kimi-notice', 'seen');
      noticeOpen = false;
      editor.setAttribute('contenteditable', 'plaintext-only');
      overlay.remove();
      refreshSend();
    });
    dialog.append(ok);
    overlay.append(dialog);
    document.body.append(overlay);
  }

  // === menus ===

  function closeMenus() {
    for (const menu of openMenus) menu.remove();
    openMenus = [];
  }
  function menuAt(anchor, className) {
    const menu = document.createElement('div');
    menu.className = 'menu ' + className;
    menu.setAttribute('role', 'menu');
    const rect = anchor.getBoundingClientRect();
    menu.style.left = rect.left + 'px';
    menu.style.top = rect.bottom + 4 + 'px';
    document.body.append(menu);
    openMenus.push(menu);
    return menu;
  }
  document.addEventListener('click', (event) => {
    if (!openMenus.some((m) => m.contains(event.target))) closeMenus();
  });

  modelTrigger.addEventListener('click', (event) => {
    event.stopPropagation();
    if (openMenus.length) return closeMenus();
    const menu = menuAt(modelTrigger, 'model-menu');
    for (const model of MODELS) {
      const option = document.createElement('div');
      option.dataset.testid = 'model-option';
      option.setAttribute('aria-selected', String(model === settings.model));
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = model.label;
      option.append(name);
      option.addEventListener('click', (e) => {
        e.stopPropagation();
        settings.model = model;
        if (!model.efforts.includes(settings.effort)) settings.effort = 'Standard';
        modelName.textContent = model.label;
        closeMenus();
      });
      menu.append(option);
    }
    const effortItem = document.createElement('div');
    effortItem.dataset.testid = 'model-effort-item';
    effortItem.textContent = 'Thinking: ' + settings.effort;
    const openEfforts = (e) => {
      e.stopPropagation();
      if (openMenus.length > 1) return;
      const sub = menuAt(effortItem, 'effort-menu');
      for (const level of settings.model.efforts) {
        const radio = document.createElement('div');
        radio.setAttribute('role', 'menuitemradio');
        radio.setAttribute('aria-checked', String(level === settings.effort));
        radio.textContent = level;
        radio.addEventListener('click', (ev) => {
          ev.stopPropagation();
          settings.effort = level;
          closeMenus();
        });
        sub.append(radio);
      }
    };
    effortItem.addEventListener('click', openEfforts);
    effortItem.addEventListener('mouseenter', openEfforts);
    menu.append(effortItem);
  });

  // === search: the "Internet off" switch turns it on; the toolkit turns it on or off ===

  function renderSearch() {
    searchChip.hidden = settings.search;
    searchChip.className = settings.search ? 'tool-switch' : 'tool-switch open showClose';
  }
  searchChip.addEventListener('click', () => {
    settings.search = true;
    renderSearch();
  });
  toolkitTrigger.addEventListener('click', (event) => {
    event.stopPropagation();
    if (openMenus.length) return closeMenus();
    const menu = menuAt(toolkitTrigger, 'toolkit-container');
    const item = document.createElement('div');
    item.className = 'toolkit-item';
    item.textContent = 'Internet search';
    item.addEventListener('mouseenter', () => {
      if (openMenus.length > 1) return;
      const sub = menuAt(item, 'connect-container');
      ['On', 'Off'].forEach((text, i) => {
        const choice = document.createElement('div');
        choice.className = 'connect-item';
        choice.textContent = text;
        choice.addEventListener('click', (ev) => {
          ev.stopPropagation();
          settings.search = i === 0;
          renderSearch();
          closeMenus();
        });
        sub.append(choice);
      });
    });
    menu.append(item);
  });

  // === composer ===

  // The editor's text, as the site's editor serialises it: one line per block child (a <br>
  // inside a block is a line break, a block holding only a <br> an empty line); without block
  // children, the rendered text (typed line breaks are <br>s, which textContent would drop).
  const promptText = () => {
    const kids = [...editor.childNodes];
    const block = (n) => n.nodeType === 1 && /^(P|DIV)$/.test(n.nodeName);
    if (!kids.length || !kids.every(block)) return editor.innerText.replace(/\n$/, '');
    const line = (b) => {
      if (b.childNodes.length === 1 && b.firstChild.nodeName === 'BR') return '';
      return [...b.childNodes].map((n) => (n.nodeName === 'BR' ? '\n' : n.textContent)).join('');
    };
    return kids.map(line).join('\n').replace(/\u00a0/g, ' ');
  };
  function refreshSend() {
    if (inFlight) return;
    sendControl.classList.toggle('disabled', noticeOpen || promptText().trim() === '');
  }
  editor.addEventListener('input', refreshSend);
  editor.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!inFlight && !sendControl.classList.contains('disabled')) send();
    }
  });
  sendControl.addEventListener('click', () => {
    if (inFlight) return stop();
    if (!sendControl.classList.contains('disabled')) send();
  });

  function showStop() {
    sendControl.classList.remove('disabled');
    sendControl.classList.add('stop');
    sendControl.setAttribute('aria-label', 'Stop');
    sendControl.innerHTML = STOP_ICON;
  }
  function showSend() {
    sendControl.classList.remove('stop');
    sendControl.setAttribute('aria-label', 'Send');
    sendControl.innerHTML = SEND_ICON;
    refreshSend();
  }

  function newChat() {
    if (inFlight) inFlight.controller.abort();
    inFlight = null;
    chatId = null;
    messages.replaceChildren();
    editor.textContent = '';
    showSend();
  }
  newChatLink.addEventListener('click', (event) => {
    event.preventDefault();
    history.pushState(null, '', newChatLink.getAttribute('href'));
    newChat();
  });
  window.addEventListener('popstate', () => {
    if (location.pathname === '/') newChat();
  });

  // === send flow ===

  function frame(json) {
    const payload = new TextEncoder().encode(json);
    const out = new Uint8Array(5 + payload.length);
    new DataView(out.buffer).setUint32(1, payload.length);
    out.set(payload, 5);
    return out;
  }

  function addMessages(prompt) {
    const user = document.createElement('div');
    user.className = 'segment-user';
    user.textContent = prompt;
    const thinking = document.createElement('div');
    thinking.className = 'segment-think';
    thinking.hidden = true;
    const answer = document.createElement('div');
    answer.className = 'segment-assistant';
    messages.append(user, thinking, answer);
    return { thinking, answer };
  }
  function showError(view, text) {
    view.answer.classList.add('error-message');
    view.answer.textContent = text;
  }

  async function send() {
    const prompt = promptText();
    if (prompt.trim() === '') return;
    editor.textContent = '';
    const controller = new AbortController();
    inFlight = { controller };
    showStop();
    const view = addMessages(prompt);
    const body = {
      chat_id: chatId || '',
      model: settings.model.value,
      thinking_effort: settings.effort.toLowerCase(),
      use_search: settings.search,
      message: { role: 'user', blocks: [{ message_id: '', text: { content: prompt } }] },
    };
    try {
      const resp = await fetch('/apiv2/kimi.gateway.chat.v1.ChatService/Chat', {
        method: 'POST',
        headers: { ...apiHeaders('application/connect+json'), 'connect-protocol-version': '1' },
        body: frame(JSON.stringify(body)),
        signal: controller.signal,
      });
      if (!resp.ok) {
        const err = await resp.json().catch(() => ({}));
        showError(view, err.message || 'HTTP ' + resp.status);
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
    if (chatId) {
      fetch('/apiv2/kimi.chat.v1.ChatService/StopChat', {
        method: 'POST',
        headers: apiHeaders('application/json'),
        body: JSON.stringify({ chat_id: chatId }),
      }).catch(() => {});
    }
    showSend();
  }

  // === Connect envelopes ===

  async function readStream(resp, view) {
    const reader = resp.body.getReader();
    let buf = new Uint8Array(0);
    const text = { think: '', answer: '' };
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      const joined = new Uint8Array(buf.length + value.length);
      joined.set(buf);
      joined.set(value, buf.length);
      buf = joined;
      while (buf.length >= 5) {
        const flags = buf[0];
        const len = new DataView(buf.buffer, buf.byteOffset).getUint32(1);
        if (buf.length < 5 + len) break;
        const payload = new TextDecoder().decode(buf.subarray(5, 5 + len));
        buf = buf.slice(5 + len);
        if (len === 0) continue;
        const event = JSON.parse(payload);
        if (flags & 2) {
          if (event.error) showError(view, event.error.message || 'error');
          return;
        }
        if (event.chat && event.chat.id && !chatId) {
          chatId = event.chat.id;
          history.replaceState(null, '', '/chat/' + chatId);
        }
        if (event.notification && /filter/i.test(event.notification.type || '')) {
          showError(view, event.notification.message);
          return;
        }
        const mask = event.mask || '';
        if (mask.startsWith('block.think')) {
          text.think = event.op === 'set' ? event.block.think.content : text.think + event.block.think.content;
          view.thinking.hidden = false;
          view.thinking.textContent = text.think;
        } else if (mask.startsWith('block.text')) {
          text.answer = event.op === 'set' ? event.block.text.content : text.answer + event.block.text.content;
          view.answer.textContent = text.answer;
        }
      }
    }
  }

  // === sign-in: "Log In" opens the login modal; its Google button opens Google's sign-in in a
  // popup, whose last page hands the access token back here ===

  const loginModal = $('div.login-modal');
  if (loginModal) {
    $('div.user-info').addEventListener('click', () => {
      loginModal.style.display = 'flex';
    });
    $('div.google-login-btn').addEventListener('click', () => {
      const state = hex(16);
      sessionStorage.setItem('kimi-oauth-state', state);
      const url =
        '/o/oauth2/v2/auth?client_id=kimi-web&response_type=code&scope=openid%20email%20profile' +
        '&redirect_uri=' + encodeURIComponent('/api/auth/google/callback') + '&state=' + state;
      window.open(url, 'kimi-google-login', 'popup,width=480,height=640');
    });
    window.addEventListener('message', (event) => {
      const data = event.data || {};
      if (event.origin !== location.origin || data.type !== 'kimi-login') return;
      if (data.state !== sessionStorage.getItem('kimi-oauth-state')) return;
      sessionStorage.removeItem('kimi-oauth-state');
      localStorage.setItem('access_token', data.token);
      location.reload();
    });
  }

  // === hook changes (tests only) ===
  // The replica can play a site that renamed one hook: its accessible name / text ("name"), its
  // class names ("class"), or both ("all"). The elements above are already bound.
  const CHANGES = {
    chat_box: {
      name: () => editor.setAttribute('aria-label', 'Message Kimi'),
      class: () => (editor.className = 'kimi-editor'),
    },
    new_chat: {
      name: () => (newChatLink.textContent = '+'),
      class: () => (newChatLink.className = 'sidebar-new'),
    },
    model_picker: {
      name: () => modelTrigger.removeAttribute('id'),
      class: () => (modelTrigger.className = 'model-switch'),
    },
    send: {
      name: () => sendControl.setAttribute('aria-label', 'Submit'),
      class: () => (sendControl.className = 'submit-container' + (sendControl.classList.contains('disabled') ? ' disabled' : '')),
    },
  };
  const [hook, how] = ($('meta[name=replica-hook-change]').content || '').split(':');
  if (CHANGES[hook]) {
    if (how === 'name' || how === 'all') CHANGES[hook].name();
    if (how === 'class' || how === 'all') CHANGES[hook].class();
  }

  renderSearch();
  if (!$('div.login-modal-content')) showNotice();
  refreshSend();
})();
