// Waits until Perplexity shows its composer, after reading the session from the site's session
// API (signed in ⇔ its `user` is an object; 401/403 or no user = signed out). The account's
// tier (`free`, `pro`, `max`) is kept for prepare.js in the tab's sessionStorage. An onboarding
// page is closed on the way.
let session = null;
try {
  const resp = await fetch('/api/auth/session', { credentials: 'include' });
  session = resp.status === 401 || resp.status === 403 ? {} : await resp.json();
} catch (e) {
  throw new Error(`reading the session (/api/auth/session) failed: ${e}`);
}
const user = session && typeof session.user === 'object' && session.user ? session.user : null;
if (!user || Object.keys(user).length === 0) return { state: 'auth', lang: document.documentElement.lang || '' };
sessionStorage.setItem('switchyard-perplexity-tier', String(user.subscription_tier || 'free'));
const state = await sy.until(
  'the Perplexity composer',
  () => {
    if (location.pathname.includes('/onboarding')) {
      const close = sy.first("button[aria-label='Close']");
      if (close) close.click();
      return null;
    }
    return sy.hook('chat_box') ? 'chat' : null;
  },
  ARGS.timeout_ms,
);
return { state, lang: document.documentElement.lang || '' };
