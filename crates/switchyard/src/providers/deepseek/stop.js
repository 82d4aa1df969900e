// Clicks the composer control if it currently is the Stop button (its look differs from Send).
const control = sy.hook('send');
if (!control) return false;
const isStop = ARGS.signature
  ? control.innerHTML !== ARGS.signature
  : /stop|cancel|abort|pause|square/i.test(control.outerHTML);
if (!isStop) return false;
control.click();
return true;
