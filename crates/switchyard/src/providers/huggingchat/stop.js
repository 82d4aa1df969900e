// Clicks HuggingChat's Stop control if it is showing.
const stop = sy.hook('stop');
if (!stop || sy.disabled(stop)) return false;
stop.click();
return true;
