// Clicks Qwen's Stop button if it is showing.
const stop = sy.hook('stop');
if (!stop || sy.disabled(stop)) return false;
stop.click();
return true;
