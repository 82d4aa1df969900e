// Google AI Studio's page hooks (aistudio.google.com, provider-wire-formats §8), each found in
// more than one way where the site allows. The driver scripts and `switchyard doctor` both use
// this table. The Run button is also Stop while a run streams, so there is no stop hook.
const HOOKS = {
  chat_box: [
    { how: 'textarea[cdktextareaautosize]', find: () => sy.first('textarea[cdktextareaautosize]') },
    {
      how: 'the only visible textarea of the prompt input',
      find: () => {
        const boxes = sy.all('.prompt-input-wrapper textarea, footer textarea').filter(sy.visible);
        return boxes.length === 1 ? boxes[0] : null;
      },
    },
  ],
  send: [
    { how: "button[mattooltipclass='run-button-tooltip']", find: () => sy.first("button[mattooltipclass='run-button-tooltip']") },
    { how: "[data-test-id='run-button-tooltip'] button", find: () => sy.first("[data-test-id='run-button-tooltip'] button") },
    { how: "button[name='run-button']", find: () => sy.first("button[name='run-button']") },
  ],
  model_picker: [
    { how: 'button.model-selector-card', find: () => sy.first('button.model-selector-card') },
  ],
  thinking_level: [
    { how: "mat-select[aria-label='Thinking Level']", find: () => sy.first("mat-select[aria-label='Thinking Level']") },
    { how: "mat-select[aria-label='Thinking Effort']", find: () => sy.first("mat-select[aria-label='Thinking Effort']") },
  ],
  search: [
    { how: "button[aria-label='Grounding with Google Search']", find: () => sy.first("button[aria-label='Grounding with Google Search']") },
  ],
  system_instructions: [
    { how: 'button.system-instructions-card', find: () => sy.first('button.system-instructions-card') },
  ],
};

// Whether the page is Google's sign-in (the accounts host, or its email / password fields).
const signedOut = () =>
  location.hostname === 'accounts.google.com' ||
  !!sy.first("input[type=email], input[type=password], input[name=identifier]");

// A switch's state (`mdc-switch--selected` / `--checked`, or aria-checked).
const switchOn = (el) =>
  /mdc-switch--(selected|checked)/.test(el.className) || el.getAttribute('aria-checked') === 'true';
