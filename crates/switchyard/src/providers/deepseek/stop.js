// Clicks the composer control if it currently is the Stop button (its look differs from Send).
// With the replay capture the page never read the stream, so its own Stop cannot name the reply
// and the site refuses it; given the reply's id (ARGS.reply_id, from the decoder), the script
// then calls the site's stop endpoint itself, as the site's Stop does: the session from the
// chat's URL (/a/chat/s/<id>), the follow-up headers (authorization, x-*) of the captured
// completion request.
const control = sy.hook('send');
let clicked = false;
if (control) {
  const isStop = ARGS.signature
    ? control.innerHTML !== ARGS.signature
    : /stop|cancel|abort|pause|square/i.test(control.outerHTML);
  if (isStop) {
    control.click();
    clicked = true;
  }
}
if (ARGS.reply_id == null) return clicked;
const session = location.pathname.match(/\/a\/chat\/s\/([^/?#]+)/);
if (!session) return clicked;
const headers = { 'content-type': 'application/json' };
for (const [name, value] of Object.entries(ARGS.headers || {})) {
  if (name === 'authorization' || (name.startsWith('x-') && name !== 'x-ds-pow-response')) {
    headers[name] = value;
  }
}
const id = Number(ARGS.reply_id);
const resp = await fetch('/api/v0/chat/stop_stream', {
  method: 'POST',
  headers,
  credentials: 'include',
  body: JSON.stringify({
    chat_session_id: decodeURIComponent(session[1]),
    message_id: Number.isFinite(id) ? id : ARGS.reply_id,
  }),
});
return resp.ok || clicked;
