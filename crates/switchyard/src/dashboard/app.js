// The switchyard dashboard. The page is filled from one Server-Sent Events stream,
// /api/events, which sends a snapshot of lanes, queue and recent requests when it opens and
// after every change (nothing here polls the gateway). Buttons call the request controls and
// the settings routes; every fetch is same-origin, so the admin cookie goes with it.
"use strict";

const $ = (sel) => document.querySelector(sel);

/** An element with attributes and children (strings become text, never HTML). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

let snap = null; // the last snapshot
let snapAt = 0; // when it came, in the browser's seconds

function notice(text, isError) {
  const n = $("#notice");
  n.textContent = text;
  n.className = isError ? "notice error" : "notice";
  n.hidden = false;
}

async function post(url, body) {
  const init = { method: "POST", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(url, init);
  let data = null;
  try { data = await resp.json(); } catch (_) { data = null; }
  return { ok: resp.ok, status: resp.status, data };
}

function errorText(data, status) {
  return (data && data.error && data.error.message) || ("HTTP " + status);
}

function ms(v) {
  if (v === null || v === undefined) return "–";
  return v < 1000 ? v + " ms" : (v / 1000).toFixed(1) + " s";
}

function waitSince(queuedAt) {
  if (!snap || !queuedAt) return "–";
  const now = snap.now + (Date.now() / 1000 - snapAt);
  return Math.max(0, Math.round(now - queuedAt)) + " s";
}

// === lanes ===

function renderLanes() {
  const body = $("#lanes tbody");
  body.replaceChildren(...snap.lanes.map((l) => {
    const reason = l.reason ? el("div", { class: "reason" }, l.reason) : null;
    const bundle = l.last_failure_bundle
      ? el("button", { type: "button", class: "bundle", "data-lane": l.id, onclick: () => openBundle(l.id) }, "bundle")
      : null;
    const live = el("button", {
      type: "button", class: "live", "data-lane": l.id,
      disabled: !snap.screencast || !l.browser_pid && !l.endpoint,
      title: snap.screencast ? "Show the lane's page live" : "The live view is off (dashboard.screencast = false)",
      onclick: () => openLive(l.id),
    }, "live view");
    return el("tr", { "data-lane": l.id },
      el("td", {}, l.label || l.id, el("div", { class: "muted" }, l.id)),
      el("td", {}, l.provider),
      el("td", {}, l.account || "manual"),
      el("td", {}, el("span", { class: "state state-" + l.state }, l.state), reason),
      el("td", {}, l.current_request || "–"),
      el("td", { class: "num" }, l.requests_served),
      el("td", { class: "num" }, l.restarts),
      el("td", {}, l.last_error ? el("span", { class: "error" }, l.last_error) : "–", bundle ? " " : null, bundle),
      el("td", {}, live));
  }));
}

// === queue ===

function renderQueue() {
  const rows = [
    ...snap.queue.running.map((r) => [r, "running"]),
    ...snap.queue.pending.map((r) => [r, "pending"]),
  ];
  $("#queue-count").textContent = `${snap.queue.running.length} running, ${snap.queue.pending.length} pending`;
  $("#queue tbody").replaceChildren(...rows.map(([r, state]) =>
    el("tr", { "data-request": r.id, "data-state": state },
      el("td", {}, r.id),
      el("td", {}, state),
      el("td", {}, r.provider),
      el("td", {}, r.model),
      el("td", {}, r.key_name || "–"),
      el("td", {}, r.lane || "–"),
      el("td", { class: "num wait", "data-queued": r.queued_at }, waitSince(r.queued_at)),
      el("td", {}, el("button", { type: "button", class: "cancel", onclick: () => cancel(r.id) }, "Cancel")))));
}

async function cancel(id) {
  const r = await post("/api/requests/" + encodeURIComponent(id) + "/cancel");
  if (r.ok) notice(`Request ${id}: ${r.data.result}.`);
  else notice(`Cancel of ${id} failed: ${errorText(r.data, r.status)}`, true);
}

$("#stop-all").addEventListener("click", async () => {
  const r = await post("/api/queue/stop");
  if (r.ok) notice(`Stopped ${r.data.stopped.length} running request(s).`);
  else notice("Stop all failed: " + errorText(r.data, r.status), true);
});

$("#clear-queue").addEventListener("click", async () => {
  const r = await post("/api/queue/clear");
  if (r.ok) notice(`Cleared ${r.data.cleared.length} pending request(s).`);
  else notice("Clear queue failed: " + errorText(r.data, r.status), true);
});

// The wait column counts up between snapshots; this only redraws, it asks the gateway nothing.
setInterval(() => {
  for (const td of document.querySelectorAll("#queue td.wait")) {
    td.textContent = waitSince(Number(td.dataset.queued));
  }
}, 1000);

// === recent requests ===

function median(values) {
  const v = values.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (!v.length) return null;
  return v[Math.floor(v.length / 2)];
}

function renderRecent() {
  const by = new Map();
  for (const r of snap.recent) {
    if (!by.has(r.provider)) by.set(r.provider, []);
    by.get(r.provider).push(r);
  }
  $("#recent-summary tbody").replaceChildren(...[...by].map(([p, rows]) =>
    el("tr", { "data-provider": p },
      el("td", {}, p),
      el("td", { class: "num" }, rows.length),
      el("td", { class: "num" }, rows.filter((r) => r.outcome === "ok").length),
      el("td", { class: "num" }, rows.filter((r) => r.outcome === "error").length),
      el("td", { class: "num" }, rows.filter((r) => r.outcome === "cancelled").length),
      el("td", { class: "num" }, ms(median(rows.map((r) => r.first_content_ms)))),
      el("td", { class: "num" }, ms(median(rows.map((r) => r.duration_ms)))),
      el("td", { class: "num" }, rows.reduce((a, r) => a + r.bytes, 0)))));
  $("#recent tbody").replaceChildren(...snap.recent.slice(0, 50).map((r) =>
    el("tr", { "data-request": r.id },
      el("td", {}, new Date(r.ended_at * 1000).toLocaleTimeString()),
      el("td", {}, r.id),
      el("td", {}, r.provider),
      el("td", {}, r.model),
      el("td", { class: "outcome-" + r.outcome, title: r.error || "" }, r.outcome, r.error ? el("div", { class: "reason" }, r.error) : null),
      el("td", { class: "num" }, ms(r.first_content_ms)),
      el("td", { class: "num" }, ms(r.duration_ms)),
      el("td", { class: "num" }, r.bytes))));
}

// === settings ===

let loadedText = "";

async function loadSettings() {
  const resp = await fetch("/api/config");
  const v = await resp.json();
  $("#settings-note").textContent = v.note;
  loadedText = v.text;
  $("#settings-text").value = v.text;
  $("#settings-text").disabled = !v.editable;
  $("#settings-preview").disabled = !v.editable;
  $("#settings-apply").disabled = true;
}

function showResult(text, kind) {
  const r = $("#settings-result");
  r.textContent = text;
  r.className = "result " + kind;
}

function list(name, items) {
  return items && items.length ? `${name}: ${items.join(", ")}\n` : "";
}

function describe(p) {
  const text = list("Lanes started", p.lanes_added) + list("Lanes stopped (each finishes its request first)", p.lanes_removed) +
    list("Settings applied to the next request", p.settings_applied) + list("Lanes kept as they are", p.lanes_kept);
  return text || "Nothing changes.";
}

$("#settings-text").addEventListener("input", () => {
  $("#settings-apply").disabled = true; // preview the text you apply
});

$("#settings-preview").addEventListener("click", async () => {
  const r = await post("/api/config/preview", { text: $("#settings-text").value });
  if (r.ok) {
    showResult("Preview: applying this will do the following.\n" + describe(r.data.preview), "ok");
    $("#settings-apply").disabled = false;
  } else {
    showResult(errorText(r.data, r.status), "error");
    $("#settings-apply").disabled = true;
  }
});

$("#settings-apply").addEventListener("click", async () => {
  $("#settings-apply").disabled = true;
  const r = await post("/api/config/apply", { text: $("#settings-text").value });
  if (r.ok) {
    const failed = (r.data.changes.lanes_failed || []).map(([id, why]) => `${id} (${why})`);
    showResult("Applied without a restart.\n" + describe(r.data.changes) + list("Lanes that failed to start", failed), "ok");
    await loadSettings();
  } else {
    showResult(errorText(r.data, r.status), "error");
  }
});

$("#settings-revert").addEventListener("click", () => {
  $("#settings-text").value = loadedText;
  $("#settings-apply").disabled = true;
  showResult("", "");
});

// === failure bundle ===

async function openBundle(id) {
  $("#bundle-title").textContent = "Failure bundle of " + id;
  const shot = $("#bundle-shot");
  shot.src = "/api/lanes/" + encodeURIComponent(id) + "/failure/screenshot?at=" + Date.now();
  $("#bundle-meta").textContent = "";
  $("#bundle-view").hidden = false;
  const resp = await fetch("/api/lanes/" + encodeURIComponent(id) + "/failure");
  const data = await resp.json().catch(() => null);
  $("#bundle-meta").textContent = resp.ok ? JSON.stringify(data, null, 2) : errorText(data, resp.status);
}

$("#bundle-close").addEventListener("click", () => {
  $("#bundle-view").hidden = true;
  $("#bundle-shot").removeAttribute("src");
});

// === live view ===

let live = null; // the AbortController of the open live view

async function openLive(id) {
  closeLive();
  const ctl = new AbortController();
  live = ctl;
  $("#live-title").textContent = "Live view of " + id;
  $("#live-status").textContent = "starting…";
  $("#live-frame").removeAttribute("src");
  $("#live-view").hidden = false;
  let resp;
  try {
    resp = await fetch("/api/lanes/" + encodeURIComponent(id) + "/screencast", { signal: ctl.signal });
  } catch (_) { return; }
  if (!resp.ok) {
    const data = await resp.json().catch(() => null);
    $("#live-status").textContent = errorText(data, resp.status);
    return;
  }
  $("#live-status").textContent = "live (a few frames a second; it stops when this view closes)";
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let name = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (name === "frame") $("#live-frame").src = "data:image/jpeg;base64," + data;
        else if (name === "stopped") $("#live-status").textContent = "stopped: " + JSON.parse(data).reason;
      }
    }
  } catch (_) { /* closed */ }
  if (live === ctl && !$("#live-status").textContent.startsWith("stopped")) {
    $("#live-status").textContent = "the live view ended";
  }
}

function closeLive() {
  if (live) live.abort();
  live = null;
}

$("#live-close").addEventListener("click", () => {
  closeLive();
  $("#live-view").hidden = true;
});

// === the event stream ===

function render() {
  $("#live-count").textContent = snap.live_views ? `${snap.live_views} live view(s) open` : "";
  renderLanes();
  renderQueue();
  renderRecent();
}

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => {
    $("#conn").textContent = "live";
    $("#conn").className = "conn live";
  });
  es.addEventListener("error", () => {
    $("#conn").textContent = "reconnecting…";
    $("#conn").className = "conn down";
  });
  es.addEventListener("snapshot", (e) => {
    snap = JSON.parse(e.data);
    snapAt = Date.now() / 1000;
    render();
    document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots || 0) + 1);
  });
}

connect();
loadSettings();
