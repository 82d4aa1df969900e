// Helpers shared by every driver script. Each script runs as one Runtime.evaluate call and
// starts with this prelude, then the provider's hooks.js (its HOOKS table); nothing is left
// behind on `window`.
const sy = (() => {
  const visible = (el) => {
    if (!el || !el.isConnected) return false;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) return false;
    const s = getComputedStyle(el);
    return s.visibility !== 'hidden' && s.display !== 'none';
  };
  const all = (sel, root) => [...(root || document).querySelectorAll(sel)];
  const first = (sel, root) => all(sel, root).find(visible) || null;
  const withText = (sel, text, root) =>
    all(sel, root).find((el) => visible(el) && el.textContent.trim().includes(text)) || null;
  const exactText = (sel, text, root) =>
    all(sel, root).find((el) => visible(el) && el.textContent.trim() === text) || null;
  const disabled = (el) =>
    el.disabled === true ||
    el.getAttribute('aria-disabled') === 'true' ||
    el.hasAttribute('data-disabled') ||
    /(^|\s)\S*disabled(\s|$)/.test(el.className || '') ||
    getComputedStyle(el).pointerEvents === 'none';
  // Resolves with fn()'s first truthy value. Checks on every DOM mutation, and every 50 ms for
  // changes that only show in layout; rejects after `ms` with a message naming `what`.
  const until = (what, fn, ms) =>
    new Promise((resolve, reject) => {
      let done = false;
      const finish = () => {
        done = true;
        observer.disconnect();
        clearInterval(poll);
        clearTimeout(timer);
      };
      const check = () => {
        if (done) return;
        let v = null;
        try {
          v = fn();
        } catch (e) {
          v = null;
        }
        if (v) {
          finish();
          resolve(v);
        }
      };
      const observer = new MutationObserver(check);
      observer.observe(document.documentElement, {
        subtree: true,
        childList: true,
        attributes: true,
        characterData: true,
      });
      const poll = setInterval(check, 50);
      const timer = setTimeout(() => {
        if (!done) {
          finish();
          reject(new Error('timed out after ' + ms + ' ms waiting for ' + what));
        }
      }, ms);
      check();
    });
  // The text of a chat box: a textarea's value, or a contenteditable editor's lines (each
  // block child is one line, a `<br>` inside it a line break, a block holding only a `<br>` an
  // empty line; a no-break space, which an editor writes for a typed space it must keep, is a
  // space), as rich-text editors such as Lexical lay them out.
  const editable = (box) => !!box && box.isContentEditable && typeof box.value !== 'string';
  const text = (box) => {
    if (!box) return '';
    if (!editable(box)) return box.value;
    const kids = [...box.childNodes];
    const block = (n) => n.nodeType === 1 && /^(P|DIV|H[1-6]|LI|PRE|BLOCKQUOTE)$/.test(n.nodeName);
    if (!kids.length || !kids.every(block)) return box.innerText.replace(/\n$/, '');
    const line = (b) => {
      if (b.childNodes.length === 1 && b.firstChild.nodeName === 'BR') return '';
      return [...b.childNodes].map((n) => (n.nodeName === 'BR' ? '\n' : n.textContent)).join('');
    };
    return kids.map(line).join('\n').replace(/\u00a0/g, ' ');
  };
  // Checks the chat box holds exactly the typed prompt (UTF-16 length, as JS counts).
  const checkTyped = (box, expected) => {
    if (!box || text(box).length !== expected) {
      throw new Error(
        `the chat box holds ${box ? text(box).length : 'no'} characters, expected ${expected}`,
      );
    }
  };
  // Waits, up to `ms`, until the chat box (`find()`) holds exactly the typed prompt: the
  // lane types while this script already runs. Typing fires `input` (a textarea's value
  // changes no DOM, so a mutation alone may not come). Returns the box; after `ms`, throws
  // what `checkTyped` says of it.
  const typed = async (find, expected, ms) => {
    const holds = () => {
      const box = find();
      return box && text(box).length === expected ? box : null;
    };
    const now = holds();
    if (now) return now;
    let onInput = null;
    const seen = new Promise((resolve) => {
      onInput = () => {
        const box = holds();
        if (box) resolve(box);
      };
      document.addEventListener('input', onInput, true);
    });
    try {
      return await Promise.race([seen, until('the typed prompt in the chat box', holds, ms)]);
    } catch (e) {
      checkTyped(find(), expected);
      throw e;
    } finally {
      document.removeEventListener('input', onInput, true);
    }
  };
  // Waits for the first visible control matching `sel` to be enabled, and returns it.
  const enabled = (what, sel, ms) =>
    until(
      what,
      () => {
        const b = first(sel);
        return b && !disabled(b) ? b : null;
      },
      ms,
    );
  // Finds a page hook by the first of its ways that matches. `ways` is a list of
  // { how, find }; the result is { el, way, how } (way 0 is the preferred way: role, accessible
  // name or text; later ways are fallbacks such as the site's class names), or null.
  const find = (ways) => {
    for (let way = 0; way < ways.length; way++) {
      let el = null;
      try {
        el = ways[way].find();
      } catch (e) {
        el = null;
      }
      if (el) return { el, way, how: ways[way].how };
    }
    return null;
  };
  // The element of hook `name` of the provider's HOOKS table, or null.
  const hook = (name) => {
    const found = find(HOOKS[name]);
    return found ? found.el : null;
  };
  // The nearest ancestor of `el` (itself included) that holds an element matching `sel`.
  const around = (el, sel) => {
    for (let node = el; node; node = node.parentElement) {
      if (node.querySelector(sel)) return node;
    }
    return null;
  };
  // An element with no text of its own but an icon (an icon-only button).
  const iconOnly = (el) => el.textContent.trim() === '' && !!el.querySelector('svg, img');
  // Sets a chat box's whole text in one step, as a paste does: the native value setter (which
  // React's and Svelte's own trackers see as a change), then an `input` event. Returns the
  // length the box now holds (UTF-16 units, as `checkTyped` counts). A contenteditable editor
  // gets one `<p>` per line instead, as the reference rebuilds it, then the `input` event.
  const fill = (box, value) => {
    if (!box) throw new Error('the chat box is gone');
    if (editable(box)) {
      box.focus();
      box.replaceChildren(
        ...value.split('\n').map((line) => {
          const p = document.createElement('p');
          if (line === '') p.append(document.createElement('br'));
          else p.textContent = line;
          return p;
        }),
      );
      box.dispatchEvent(
        new InputEvent('input', { bubbles: true, inputType: 'insertFromPaste', data: value }),
      );
      return text(box).length;
    }
    const proto = Object.getPrototypeOf(box);
    const setter = Object.getOwnPropertyDescriptor(proto, 'value')?.set;
    if (!setter) throw new Error('the chat box has no value to set');
    box.focus();
    setter.call(box, value);
    box.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertFromPaste' }));
    box.dispatchEvent(new Event('change', { bubbles: true }));
    return box.value.length;
  };
  return {
    visible, all, first, withText, exactText, disabled, until, text, checkTyped, typed, enabled,
    find, hook, around, iconOnly, fill,
  };
})();
