// Clicks Kimi's composer control if it is the Stop control now (it looks different from Send).
// With the replay capture the page never read the stream and does not know the chat the answer
// belongs to, so its Stop cannot name it; given the chat's id (ARGS.reply_id, from the
// decoder), the script tells the site to stop that chat itself, with the captured request's
// authorization.
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
if (ARGS.reply_id == null || location.pathname.startsWith('/chat/')) return clicked;
const headers = { 'content-type': 'application/json' };
for (const [name, value] of Object.entries(ARGS.headers || {})) {
  if (name === 'authorization' || name.startsWith('x-')) headers[name] = value;
}
if (!headers.authorization && localStorage.getItem('access_token')) {
  headers.authorization = 'Bearer ' + localStorage.getItem('access_token');
}
const resp = await fetch('/apiv2/kimi.chat.v1.ChatService/StopChat', {
  method: 'POST',
  headers,
  credentials: 'include',
  body: JSON.stringify({ chat_id: ARGS.reply_id }),
});
return resp.ok || clicked;
