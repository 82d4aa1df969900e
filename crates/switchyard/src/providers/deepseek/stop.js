// Clicks the composer control if it currently is the Stop button (its look differs from Send).
const SEND =
  'div.ds-icon-button._52c986b[role=button], [role=button].ds-button._52c986b, ' +
  '.ds-button._52c986b.ds-button--circle';
const control = sy.first(SEND);
if (!control) return false;
const isStop = ARGS.signature
  ? control.innerHTML !== ARGS.signature
  : /stop|cancel|abort|pause|square/i.test(control.outerHTML);
if (!isStop) return false;
control.click();
return true;
