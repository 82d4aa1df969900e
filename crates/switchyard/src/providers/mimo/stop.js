// Clicks MiMo's Stop control if it is showing.
const stop = sy.hook('stop');
if (!stop) return false;
stop.click();
return true;
