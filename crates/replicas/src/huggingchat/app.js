// HuggingChat replica app. Routes in the page: `/chat/` (a new chat), `/chat/conversation/<id>`
// and `/chat/settings/chat/<model>` (the model settings). The account's settings and model
// list come from `GET /chat/api/settings`; a message creates its conversation first
// (`POST /chat/conversation`) and streams from `POST /chat/conversation/<id>`: JSON objects one
// per line, read as they come.
(() => {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== false && v !== null && v !== undefined) e.setAttribute(k, v === true ? '' : v);
    }
    e.append(...kids);
    return e;
  };
  const EFFORTS = ['auto', 'default', 'low', 'medium', 'high'];
  const state = {
    settings: null,
    conversation: null,
    effort: 'auto',
    mcp: false,
    streaming: null,
    menu: null,
  };
  const model = () => state.settings.models.find((m) => m.id === state.settings.activeModel);
  const closeMenu = () => {
    if (state.menu) state.menu.remove();
    state.menu = null;
  };
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeMenu();
  });
  const openMenu = (anchor, menu) => {
    closeMenu();
    const r = anchor.getBoundingClientRect();
    menu.style.left = r.left + 'px';
    menu.style.top = r.bottom + 4 + 'px';
    document.body.append(menu);
    state.menu = menu;
  };

  const go = (path) => {
    history.pushState(null, '', path);
    render();
  };
  window.addEventListener('popstate', () => render());

  const renderNav = () => {
    const nav = $('#nav');
    nav.replaceChildren(
      el('a', { href: '/chat/', onclick: (e) => { e.preventDefault(); closeMenu(); state.conversation = null; go('/chat/'); }, text: 'New Chat' }),
    );
    // Signed in: the account chip, the avatar link to the Hub's user API (as on the site).
    const user = state.settings.signedIn && state.settings.user;
    if (user) {
      const avatar = `/api/users/${encodeURIComponent(user.username)}/avatar?redirect=true`;
      nav.append(el('a', { href: avatar, title: user.username }, el('img', { alt: user.username, width: 20, height: 20 }), el('span', { text: user.username })));
    }
  };

  const renderSignedOut = () => {
    $('#main').replaceChildren(
      el('h1', { text: 'HuggingChat' }),
      el('a', { href: '/chat/login', text: 'Sign in' }),
      el('button', { type: 'button', text: 'Start chatting' }),
    );
  };

  const renderSettings = (id) => {
    const s = state.settings;
    let chosen = s.models.find((m) => m.id === id) || model();
    let provider = s.providers[chosen.id] || 'auto';
    const panel = el('div', { id: 'settings' });
    const draw = () => {
      const s = state.settings;
      const prompt = el('textarea', { 'aria-label': 'Custom system prompt', placeholder: 'Custom system prompt', rows: 6 });
      prompt.value = s.customPrompts[chosen.id] || '';
      const providerButton = el('button', {
        type: 'button', 'aria-label': 'Select inference provider', text: provider,
        onclick: () => {
          const list = el('div', { role: 'listbox' });
          for (const p of chosen.providers) {
            list.append(el('div', { role: 'option', 'data-value': p, text: p, onclick: () => { provider = p; closeMenu(); draw(); } }));
          }
          openMenu(providerButton, list);
        },
      });
      const activate = el('button', {
        type: 'button', name: 'Activate model', text: s.activeModel === chosen.id ? 'Active' : 'Activate',
        onclick: async () => {
          const resp = await fetch('/chat/api/settings', {
            method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ activeModel: chosen.id, provider, customPrompt: prompt.value }),
          });
          if (!resp.ok) return;
          state.settings = await resp.json();
          draw();
        },
      });
      panel.replaceChildren(
        el('h2', { text: s.activeModel === chosen.id ? `${chosen.name} (active)` : chosen.name }),
        el('div', {}, ...s.models.map((m) => el('button', {
          type: 'button', 'data-model-id': m.id, 'aria-selected': String(m.id === chosen.id), text: m.name,
          onclick: () => { chosen = m; provider = s.providers[m.id] || 'auto'; history.replaceState(null, '', `/chat/settings/chat/${m.id}`); draw(); },
        }))),
        el('div', {}, el('span', { text: 'Inference provider: ' }), providerButton),
        el('div', {}, el('label', { text: 'System prompt' }), prompt),
        activate,
      );
    };
    draw();
    $('#main').replaceChildren(panel);
  };

  const renderChat = () => {
    const m = model();
    const box = el('textarea', { placeholder: 'Ask anything', rows: 2 });
    const send = el('button', { type: 'button', 'aria-label': 'Send message', disabled: true, text: '➤' });
    box.addEventListener('input', () => { send.disabled = box.value.trim() === ''; });
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); if (!send.disabled) submit(); }
    });
    const submit = () => {
      const text = box.value;
      box.value = '';
      send.disabled = true;
      message(text);
    };
    send.addEventListener('click', submit);
    const effort = el('button', {
      type: 'button', 'aria-label': 'Select thinking effort', text: `Effort: ${state.effort}`,
      onclick: () => {
        const menu = el('div', { role: 'menu' });
        for (const e of EFFORTS) {
          menu.append(el('div', {
            role: 'menuitemradio', 'aria-checked': String(e === state.effort), text: e,
            onclick: () => { state.effort = e; effort.textContent = `Effort: ${e}`; closeMenu(); },
          }));
        }
        openMenu(effort, menu);
      },
    });
    const attach = el('button', {
      type: 'button', 'aria-label': 'Add attachment', text: '+',
      onclick: () => {
        const menu = el('div', { role: 'menu' });
        const upload = el('div', { 'data-dropdown-menu-sub-trigger': true, text: 'Upload' });
        const mcp = el('div', { 'data-dropdown-menu-sub-trigger': true, text: 'MCP servers' });
        mcp.addEventListener('click', () => {
          const sub = el('div', { role: 'menu' });
          sub.append(el('div', {
            role: 'menuitemcheckbox', 'aria-checked': String(state.mcp),
            onclick: () => { state.mcp = !state.mcp; closeMenu(); renderChat(); },
          }, el('img', { src: 'https://exa.ai/favicon.ico', alt: '' }), el('span', { text: 'Web Search (Exa)' })));
          openMenu(mcp, sub);
        });
        menu.append(upload, mcp);
        openMenu(attach, menu);
      },
    });
    const bar = el('div', { class: 'bar' },
      attach,
      effort,
      el('a', { href: `/chat/settings/chat/${m.id}`, onclick: (e) => { e.preventDefault(); go(`/chat/settings/chat/${m.id}`); }, text: `Model: ${m.name}` }),
      el('span', { title: `Provider: ${state.settings.providers[m.id] || 'auto'}`, text: state.settings.providers[m.id] || 'auto' }),
    );
    if (state.mcp) {
      bar.append(
        el('button', { type: 'button', title: 'Manage MCP Servers' }, el('img', { src: 'https://exa.ai/favicon.ico', alt: '' }), 'MCP (1)'),
        el('button', { type: 'button', 'aria-label': 'Disable all MCP servers', text: '×', onclick: () => { state.mcp = false; renderChat(); } }),
      );
    }
    const slot = el('span', { id: 'send-slot' }, send);
    bar.append(slot);
    $('#main').replaceChildren(el('div', { id: 'messages' }), el('div', { class: 'composer' }, box, bar));
  };

  const showStop = (on) => {
    const slot = $('#send-slot');
    if (!slot) return;
    if (on) {
      slot.replaceChildren(el('button', { type: 'button', 'aria-label': 'Stop generating', text: '■', onclick: stop }));
    } else {
      const send = el('button', { type: 'button', 'aria-label': 'Send message', disabled: true, text: '➤' });
      slot.replaceChildren(send);
      renderChat();
    }
  };

  const stop = async () => {
    const s = state.streaming;
    if (!s) return;
    s.abort.abort();
    await fetch(`/chat/conversation/${s.id}/stop-generating`, { method: 'POST', credentials: 'include' });
  };

  const uuid = () => crypto.randomUUID();

  const message = async (text) => {
    const messages = $('#messages');
    messages.append(el('div', { class: 'user', text }));
    if (!state.conversation) {
      const resp = await fetch('/chat/conversation', {
        method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: state.settings.activeModel }),
      });
      if (!resp.ok) {
        messages.append(el('div', { class: 'error', text: `Error ${resp.status}` }));
        return;
      }
      state.conversation = (await resp.json()).conversationId;
      history.pushState(null, '', `/chat/conversation/${state.conversation}`);
    }
    const id = state.conversation;
    const abort = new AbortController();
    state.streaming = { id, abort };
    showStop(true);
    const think = el('div', { class: 'think' });
    const answer = el('div', { class: 'answer' });
    messages.append(think, answer);
    try {
      const resp = await fetch(`/chat/conversation/${id}`, {
        method: 'POST', credentials: 'include', signal: abort.signal,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          inputs: text, id: uuid(), is_retry: false, is_continue: false,
          tools: state.mcp ? ['exa'] : [], effort: state.effort,
        }),
      });
      if (resp.status === 402) {
        document.body.append(el('div', { class: 'overlay' }, el('div', {},
          el('h2', { text: 'Upgrade Required' }),
          el('p', { text: 'You have used up your monthly credits.' }))));
        return;
      }
      if (!resp.ok) {
        answer.append(el('span', { class: 'error', text: await resp.text() }));
        return;
      }
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      let raw = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        const lines = buffer.split('\n');
        buffer = lines.pop();
        for (const line of lines) {
          if (!line.trim()) continue;
          let update;
          try { update = JSON.parse(line); } catch (e) { continue; }
          if (update.type === 'stream') {
            raw += update.token.replace(/\u0000/g, '');
            const m = raw.match(/^<think>([\s\S]*?)(<\/think>|$)([\s\S]*)$/);
            if (m) { think.textContent = m[1]; answer.textContent = m[3]; } else answer.textContent = raw;
          } else if (update.type === 'status' && update.status === 'error') {
            answer.append(el('span', { class: 'error', text: update.message || 'error' }));
          }
        }
      }
    } catch (e) {
      // Stopped: the fetch was aborted.
    } finally {
      state.streaming = null;
      showStop(false);
      const box = $('textarea[placeholder="Ask anything"]');
      if (box) box.focus();
    }
  };

  const render = () => {
    closeMenu();
    renderNav();
    if (!state.settings.signedIn) return renderSignedOut();
    const path = location.pathname;
    const settings = path.match(/^\/chat\/settings\/chat\/(.+)$/);
    if (settings) return renderSettings(decodeURIComponent(settings[1]));
    const conv = path.match(/^\/chat\/conversation\/([^/]+)$/);
    state.conversation = conv ? conv[1] : null;
    renderChat();
  };

  fetch('/chat/api/settings', { credentials: 'include' })
    .then((r) => r.json())
    .then((s) => {
      state.settings = s;
      render();
    });
})();
