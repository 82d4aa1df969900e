// Perplexity replica page logic: the session (sign-in state and tier), the composer's request
// modes, sources and (paid tiers) model and thinking menus, the ask (→ /rest/sse/perplexity_ask),
// live rendering of the answer blocks, Stop, and New Thread.
'use strict';

(() => {
  const $ = (selector) => document.querySelector(selector);
  const editor = $('#ask-input');
  const bar = $('.bar');
  const submit = $("button[aria-label='Submit']");
  const modeButton = $('.mode-button');
  const toolsButton = $('.tools-button');
  const thread = $('#thread');
  const newThread = $('.new-thread');
  const sidebar = $('#sidebar');
  const spacesView = $('#spaces-view');
  const composer = $('.composer');
  const spacesLink = $('.spaces-link');

  const MODES = [
    ['search', 'Search'],
    ['study', 'Learn step by step'],
    ['research', 'Deep research'],
    ['council', 'Model council'],
  ];
  const MODELS = [
    ['best', 'Best (Auto)'],
    ['sonar2', 'Sonar 2'],
    ['gpt54', 'GPT-5.4'],
    ['gpt55', 'GPT-5.5'],
    ['gemini31pro', 'Gemini 3.1 Pro'],
    ['claude46sonnet', 'Claude Sonnet 4.6'],
    ['claude47opus', 'Claude Opus 4.7'],
    ['kimik26', 'Kimi K2.6'],
    ['nemotron3super', 'Nemotron 3 Super'],
  ];
  const MAX_ONLY = ['gpt55', 'claude47opus'];
  const FORCED_THINKING = ['gemini31pro', 'nemotron3super'];

  // What the page remembers across loads, as the site does.
  const stored = (key, fallback) => localStorage.getItem('pplx-' + key) || fallback;
  const store = (key, value) => localStorage.setItem('pplx-' + key, value);
  let tier = null;
  let inFlight = null;
  let openMenu = null;
  // The Space the composer asks in (the one on screen), or null.
  let space = null;

  // === the editor ===
  // One block child per line; a <br> inside a block is a line break, a block holding only a
  // <br> an empty line.
  const editorText = () => {
    const kids = [...editor.childNodes];
    const block = (n) => n.nodeType === 1 && /^(P|DIV|H[1-6]|LI|PRE|BLOCKQUOTE)$/.test(n.nodeName);
    if (!kids.length || !kids.every(block)) return editor.innerText.replace(/\n$/, '');
    const line = (b) => {
      if (b.childNodes.length === 1 && b.firstChild.nodeName === 'BR') return '';
      return [...b.childNodes].map((n) => (n.nodeName === 'BR' ? '\n' : n.textContent)).join('');
    };
    return kids.map(line).join('\n').replace(/\u00a0/g, ' ');
  };
  const clearEditor = () => editor.replaceChildren(Object.assign(document.createElement('p'), { innerHTML: '<br>' }));
  const refreshSubmit = () => {
    submit.disabled = tier === null || editorText().trim() === '';
  };
  editor.addEventListener('input', refreshSubmit);
  editor.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!inFlight && !submit.disabled) ask();
    }
  });
  submit.addEventListener('click', () => {
    if (!submit.disabled) ask();
  });

  // === menus ===
  function closeMenu() {
    if (openMenu) openMenu.remove();
    openMenu = null;
  }
  function menu(anchor, build) {
    closeMenu();
    const el = document.createElement('div');
    el.setAttribute('role', 'menu');
    build(el);
    el.style.left = anchor.offsetLeft + 'px';
    bar.append(el);
    openMenu = el;
    return el;
  }
  function item(role, label, checked, onClick) {
    const el = document.createElement('div');
    el.setAttribute('role', role);
    if (checked !== null) el.setAttribute('aria-checked', String(checked));
    el.textContent = label;
    el.addEventListener('click', (event) => {
      event.stopPropagation();
      if (el.getAttribute('aria-disabled') === 'true') return;
      onClick(el);
    });
    return el;
  }
  document.addEventListener('click', (event) => {
    if (openMenu && !openMenu.contains(event.target)) closeMenu();
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeMenu();
  });

  const modeLabel = () => MODES.find(([v]) => v === stored('mode', 'search'))[1];
  modeButton.textContent = modeLabel();
  modeButton.addEventListener('click', (event) => {
    event.stopPropagation();
    if (openMenu) return closeMenu();
    menu(modeButton, (el) => {
      for (const [value, label] of MODES) {
        el.append(
          item('menuitemradio', label, value === stored('mode', 'search'), () => {
            store('mode', value);
            modeButton.textContent = label;
            closeMenu();
          }),
        );
      }
    });
  });

  toolsButton.addEventListener('click', (event) => {
    event.stopPropagation();
    if (openMenu) return closeMenu();
    menu(toolsButton, (el) => {
      el.append(item('menuitem', 'Upload files or images', null, () => closeMenu()));
      el.append(
        item('menuitem', 'Connectors and sources', null, () => {
          el.replaceChildren(
            item('menuitemcheckbox', 'Web', stored('web', 'on') === 'on', (box) => {
              const on = stored('web', 'on') !== 'on';
              store('web', on ? 'on' : 'off');
              box.setAttribute('aria-checked', String(on));
            }),
            item('menuitemcheckbox', 'Academic', false, () => {}),
          );
        }),
      );
    });
  });

  // The paid tiers' model menu: model rows (a locked row's wrapper lacks `rounded-lg`) and the
  // Thinking switch (forced on, and disabled, for the models that always think).
  let modelButton = null;
  const model = () => stored('model', 'best');
  const modelName = () => MODELS.find(([v]) => v === model())[1];
  const thinkingOn = () => FORCED_THINKING.includes(model()) || stored('thinking', 'off') === 'on';
  function addModelButton() {
    modelButton = document.createElement('button');
    modelButton.type = 'button';
    modelButton.setAttribute('aria-label', 'Model');
    modelButton.textContent = modelName();
    bar.insertBefore(modelButton, submit);
    modelButton.addEventListener('click', (event) => {
      event.stopPropagation();
      if (openMenu) return closeMenu();
      menu(modelButton, (el) => {
        for (const [value, label] of MODELS) {
          const wrap = document.createElement('div');
          const locked = tier !== 'max' && MAX_ONLY.includes(value);
          if (!locked) wrap.className = 'rounded-lg';
          const row = item('menuitemradio', label, value === model(), () => {
            if (locked) return;
            store('model', value);
            modelButton.textContent = label;
            syncThinking();
            el.querySelectorAll('[role=menuitemradio]').forEach((r) => r.setAttribute('aria-checked', String(r === row)));
          });
          if (locked) row.append(' 🔒');
          wrap.append(row);
          el.append(wrap);
        }
        const thinking = item('menuitemcheckbox', 'Thinking', thinkingOn(), () => {
          store('thinking', stored('thinking', 'off') === 'on' ? 'off' : 'on');
          syncThinking();
        });
        el.append(thinking);
        const syncThinking = () => {
          thinking.setAttribute('aria-checked', String(thinkingOn()));
          thinking.setAttribute('aria-disabled', String(FORCED_THINKING.includes(model())));
        };
        syncThinking();
      });
    });
  }

  // === the ask ===
  function clearThread() {
    if (inFlight) inFlight.controller.abort();
    inFlight = null;
    thread.replaceChildren();
    clearEditor();
    showSubmit();
  }
  newThread.addEventListener('click', () => {
    clearThread();
    go('/');
  });

  // === Spaces ===
  const el = (tag, attrs, text) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const api = (path, body) =>
    fetch(path, {
      method: body ? 'POST' : 'GET',
      credentials: 'include',
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    }).then(async (r) => {
      const json = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(json.detail || 'HTTP ' + r.status);
      return json;
    });
  spacesLink.addEventListener('click', (event) => {
    event.preventDefault();
    clearThread();
    go('/spaces');
  });

  async function showSpaces() {
    space = null;
    composer.hidden = true;
    spacesView.hidden = false;
    spacesView.replaceChildren(el('h1', {}, 'Spaces'));
    const { spaces } = await api('/rest/spaces');
    for (const s of spaces) {
      const card = el('a', { href: '/spaces/' + s.slug, class: 'space-card' }, s.title);
      card.addEventListener('click', (event) => {
        event.preventDefault();
        go('/spaces/' + s.slug);
      });
      spacesView.append(card);
    }
    const create = el('button', { type: 'button' }, 'Create a Space');
    create.addEventListener('click', () => {
      const title = el('input', { 'aria-label': 'Space title', placeholder: 'Title' });
      const confirm = el('button', { type: 'button' }, 'Create');
      confirm.addEventListener('click', async () => {
        if (title.value.trim() === '') return;
        const made = await api('/rest/spaces', { title: title.value });
        go('/spaces/' + made.slug);
      });
      create.replaceWith(title, confirm);
    });
    spacesView.append(create);
  }

  async function showSpace(slug) {
    const { spaces } = await api('/rest/spaces');
    const found = spaces.find((s) => s.slug === slug);
    if (!found) return go('/spaces');
    space = found;
    spacesView.hidden = false;
    composer.hidden = false;
    const shown = el('div', { class: 'space-instructions' }, found.instructions);
    const edit = el('button', { type: 'button', 'aria-label': 'Edit Space instructions' }, 'Instructions');
    edit.addEventListener('click', () => {
      const box = el('textarea', { 'aria-label': 'Input for editing Space answer instructions' });
      box.value = space.instructions;
      const save = el('button', { type: 'button' }, 'Save');
      const cancel = el('button', { type: 'button' }, 'Cancel');
      const editor = el('div', { class: 'instructions-editor' });
      editor.append(box, save, cancel);
      const close = () => editor.replaceWith(edit);
      cancel.addEventListener('click', close);
      save.addEventListener('click', async () => {
        try {
          const saved = await api(`/rest/spaces/${space.uuid}/instructions`, { instructions: box.value });
          space.instructions = saved.instructions;
          shown.textContent = saved.instructions;
          close();
        } catch (err) {
          editor.append(el('div', { class: 'error-message', role: 'alert' }, String(err.message)));
        }
      });
      edit.replaceWith(editor);
    });
    spacesView.replaceChildren(el('h1', {}, found.title), shown, edit);
  }

  // Client-side routing, as the site's app does: `/`, `/search/<slug>`, `/spaces`, `/spaces/<slug>`.
  function go(path) {
    if (location.pathname !== path) history.pushState(null, '', path);
    return route();
  }
  function route() {
    const path = location.pathname;
    if (path === '/spaces') return showSpaces();
    if (path.startsWith('/spaces/')) return showSpace(path.slice('/spaces/'.length));
    if (path === '/' || !path.startsWith('/search/')) {
      space = null;
      spacesView.hidden = true;
      spacesView.replaceChildren();
    }
    composer.hidden = false;
    return Promise.resolve();
  }
  window.addEventListener('popstate', () => route());

  const stopButton = document.createElement('button');
  stopButton.type = 'button';
  stopButton.setAttribute('aria-label', 'Stop');
  stopButton.innerHTML = '<svg viewBox="0 0 16 16" width="16" height="16"><rect x="4" y="4" width="8" height="8" fill="currentColor"/></svg>';
  stopButton.addEventListener('click', () => stop());
  const showStop = () => submit.replaceWith(stopButton);
  function showSubmit() {
    if (stopButton.isConnected) stopButton.replaceWith(submit);
    refreshSubmit();
  }

  async function ask() {
    const query = editorText();
    if (query.trim() === '') return;
    clearEditor();
    const frontendUuid = crypto.randomUUID();
    const controller = new AbortController();
    inFlight = { controller, frontendUuid };
    showStop();
    const q = document.createElement('div');
    q.className = 'query';
    q.textContent = query;
    const prose = document.createElement('div');
    prose.className = 'prose';
    thread.append(q, prose);
    history.pushState(null, '', '/search/' + frontendUuid.slice(0, 8));
    spacesView.hidden = true;
    const paid = tier === 'pro' || tier === 'max';
    try {
      const resp = await fetch('/rest/sse/perplexity_ask', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({
          params: {
            frontend_uuid: frontendUuid,
            mode: stored('mode', 'search'),
            model_preference: (paid ? model() : 'best') + (paid && thinkingOn() ? '_thinking' : ''),
            sources: stored('web', 'on') === 'on' ? ['web'] : [],
            search_focus: 'internet',
            ...(space ? { target_collection_uuid: space.uuid } : {}),
            is_incognito: false,
            language: 'en-US',
            version: '2.18',
          },
          query_str: query,
        }),
        signal: controller.signal,
      });
      if (!resp.ok) {
        const body = await resp.json().catch(() => ({}));
        prose.classList.add('error-message');
        prose.textContent = body.detail || 'HTTP ' + resp.status;
        return;
      }
      await readStream(resp, prose);
    } catch (err) {
      if (err.name !== 'AbortError') {
        prose.classList.add('error-message');
        prose.textContent = String(err);
      }
    } finally {
      if (inFlight && inFlight.controller === controller) {
        inFlight = null;
        showSubmit();
      }
    }
  }

  function stop() {
    const current = inFlight;
    if (!current) return;
    inFlight = null;
    current.controller.abort();
    fetch('/rest/thread/stop', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ frontend_uuid: current.frontendUuid }),
    }).catch(() => {});
    showSubmit();
  }

  // Rebuilds the ask_text block from whole blocks and the add/replace patches the stream uses.
  async function readStream(resp, prose) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let block = { chunks: [], answer: '' };
    let buffered = '';
    const render = () => {
      const chunks = (block.chunks || []).join('');
      prose.textContent = (block.answer || '').length > chunks.length ? block.answer : chunks;
    };
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        if (!line.startsWith('data:')) continue;
        const data = JSON.parse(line.slice(5));
        for (const b of data.blocks || []) {
          if (b.intended_usage !== 'ask_text') continue;
          if (b.markdown_block) block = b.markdown_block;
          for (const p of (b.diff_block && b.diff_block.patches) || []) {
            if (p.path === '') block = p.value;
            else if (p.path === '/chunks/-') block.chunks.push(p.value);
          }
          render();
        }
      }
    }
  }

  // === session ===
  async function readSession() {
    const session = await fetch('/api/auth/session', { credentials: 'include' })
      .then((r) => r.json())
      .catch(() => ({}));
    if (!session.user) {
      const signIn = document.createElement('div');
      signIn.className = 'sign-in';
      signIn.textContent = 'Sign In';
      signIn.addEventListener('click', openSignIn);
      sidebar.append(signIn);
      return;
    }
    tier = session.user.subscription_tier || 'free';
    if (tier === 'pro' || tier === 'max') addModelButton();
    refreshSubmit();
    route();
  }

  // === sign-in by emailed code ===
  // The site's modal: "Enter your email" and a button whose first span reads "Continue with
  // email" (POST /api/auth/signin/email); then `h2` "Check your email" with six one-digit
  // inputs (`aria-label` "Digit N of 6") and "Continue" (POST /api/auth/callback/email), which
  // sets the session cookie and loads the app again. Errors show in `[role=alert]`.
  function openSignIn() {
    if ($('.signin-modal')) return;
    const modal = document.createElement('div');
    modal.className = 'signin-modal';
    modal.setAttribute('role', 'dialog');
    const alertBox = document.createElement('div');
    alertBox.setAttribute('role', 'alert');
    const email = document.createElement('input');
    email.type = 'email';
    email.name = 'email';
    email.placeholder = 'Enter your email';
    const cont = document.createElement('button');
    cont.type = 'button';
    const span = document.createElement('span');
    span.textContent = 'Continue with email';
    cont.append(span);
    const post = (path, body) =>
      fetch(path, {
        method: 'POST',
        credentials: 'include',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ ok: r.ok, body: await r.json().catch(() => ({})) }));
    cont.addEventListener('click', async () => {
      alertBox.textContent = '';
      const address = email.value.trim();
      if (!address) {
        alertBox.textContent = 'Please enter your email';
        return;
      }
      cont.disabled = true;
      const r = await post('/api/auth/signin/email', { email: address });
      cont.disabled = false;
      if (!r.ok) {
        alertBox.textContent = r.body.error || 'Something went wrong';
        return;
      }
      showCode(address);
    });
    const showCode = (address) => {
      const h2 = document.createElement('h2');
      h2.textContent = 'Check your email';
      const note = document.createElement('p');
      note.textContent = `We sent a code to ${address}`;
      const digits = document.createElement('div');
      const inputs = [];
      for (let i = 1; i <= 6; i++) {
        const d = document.createElement('input');
        d.setAttribute('aria-label', `Digit ${i} of 6`);
        d.inputMode = 'numeric';
        d.maxLength = 1;
        d.size = 1;
        d.addEventListener('input', () => {
          if (d.value && inputs[i]) inputs[i].focus();
        });
        inputs.push(d);
        digits.append(d);
      }
      const go = document.createElement('button');
      go.type = 'button';
      go.textContent = 'Continue';
      go.addEventListener('click', async () => {
        alertBox.textContent = '';
        const code = inputs.map((d) => d.value.trim()).join('');
        if (!/^[0-9]{6}$/.test(code)) {
          alertBox.textContent = 'Enter the 6-digit code';
          return;
        }
        go.disabled = true;
        const r = await post('/api/auth/callback/email', { email: address, code });
        if (!r.ok) {
          go.disabled = false;
          alertBox.textContent = r.body.error || 'Invalid code';
          inputs.forEach((d) => (d.value = ''));
          inputs[0].focus();
          return;
        }
        location.href = '/';
      });
      modal.replaceChildren(h2, note, digits, go, alertBox);
      inputs[0].focus();
    };
    modal.append(email, cont, alertBox);
    document.body.append(modal);
    email.focus();
  }

  // === hook changes (tests only) ===
  // The replica can play a site that renamed one hook: its accessible name / text ("name"), its
  // class or id ("class"), or both ("all"). The elements above are already bound.
  const CHANGES = {
    chat_box: {
      name: () => editor.removeAttribute('role'),
      class: () => editor.removeAttribute('id'),
    },
    new_chat: {
      name: () => {
        newThread.removeAttribute('aria-label');
        newThread.textContent = '+';
      },
      class: () => (newThread.className = 'sidebar-new'),
    },
    send: {
      name: () => submit.setAttribute('aria-label', 'Ask'),
      class: () => submit.setAttribute('type', 'submit'),
    },
  };
  const [hook, how] = ($('meta[name=replica-hook-change]').content || '').split(':');
  if (CHANGES[hook]) {
    if (how === 'name' || how === 'all') CHANGES[hook].name();
    if (how === 'class' || how === 'all') CHANGES[hook].class();
  }

  refreshSubmit();
  readSession();
})();
