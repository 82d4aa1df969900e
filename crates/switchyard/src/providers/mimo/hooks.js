// Xiaomi MiMo's page hooks, each found in more than one way where the site allows: the site's
// `data-track-id` attributes first (the reference drives the site by them), then role and
// accessible name or text. The driver scripts and `switchyard doctor` both use this table.
const HOOKS = {
  chat_box: [
    { how: "textarea[data-track-id='home_input']", find: () => sy.first("textarea[data-track-id='home_input']") },
    {
      how: 'the only visible textarea',
      find: () => {
        const boxes = sy.all('textarea').filter(sy.visible);
        return boxes.length === 1 ? boxes[0] : null;
      },
    },
  ],
  new_chat: [
    { how: "[data-track-id='new_chat_btn']", find: () => sy.first("[data-track-id='new_chat_btn']") },
    { how: 'button "New chat"', find: () => sy.exactText('button, [role=button], a', 'New chat') },
  ],
  model_picker: [
    { how: "[data-track-id='model_select']", find: () => sy.first("[data-track-id='model_select']") },
    { how: 'button[aria-haspopup=listbox]', find: () => sy.first('button[aria-haspopup=listbox]') },
  ],
  search: [
    { how: "[data-track-id='web_search_btn']", find: () => sy.first("[data-track-id='web_search_btn']") },
    { how: 'button "Search"', find: () => sy.exactText('button[aria-pressed]', 'Search') },
  ],
  send: [
    { how: "[data-track-id='home_send_btn']", find: () => sy.first("[data-track-id='home_send_btn']") },
    { how: 'button[aria-label=Send]', find: () => sy.first('button[aria-label=Send]') },
  ],
  stop: [
    { how: "[data-track-id='stop_btn']", find: () => sy.first("[data-track-id='stop_btn']") },
    { how: 'button[aria-label=Stop]', find: () => sy.first('button[aria-label=Stop]') },
  ],
};

// The first-run modals and guardrails the reference dismisses: the announcement, the cookie
// banner ("Decline all") and the user agreement (tick the box, then confirm). Returns whether
// anything was dismissed.
const dismissModals = () => {
  let acted = false;
  const click = (el) => {
    if (el && sy.visible(el)) {
      el.click();
      acted = true;
    }
  };
  click(sy.first("[data-track-id='announcement_close_btn']"));
  click(sy.first("[data-track-id='cookie_decline_btn']") || sy.exactText('button', 'Decline all'));
  const agree = sy.first("[data-track-id='agreement_checkbox']");
  if (agree && !agree.checked) click(agree);
  const confirm = sy.first("[data-track-id='agreement_confirm_btn']");
  if (confirm && !sy.disabled(confirm)) click(confirm);
  return acted;
};
