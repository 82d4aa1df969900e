// Clicks the Run button if it is in Stop mode (its text, label, tooltip or icon says stop).
// The page knows its run and tells the site to stop it, with either capture.
const run = sy.hook('send');
if (!run || sy.disabled(run)) return false;
const label = [run.textContent, run.getAttribute('aria-label'), run.getAttribute('mattooltip')].join(' ');
if (!/stop/i.test(label)) return false;
run.click();
return true;
