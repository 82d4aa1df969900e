// Clicks GLM's Stop control if it is showing.
const stop = sy.first("div[aria-label='Stop'] button") || sy.first("div[aria-label='Stop']");
if (!stop) return false;
stop.click();
return true;
