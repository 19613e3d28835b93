// Buy form: quantity limits follow live availability, and a running total.
// live.js dispatches `availability:update` with the availability API's JSON.

const form = document.querySelector("[data-buy-form]");

// After a refused submit the page loads at the top, the reason further down:
// bring the summary into view and have screen readers read it.
const errorSummary = document.querySelector("[data-error-summary]");
if (errorSummary) errorSummary.focus();

function formatter(currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() });
  } catch {
    return { format: (n) => `${n.toFixed(2)} ${currency.toUpperCase()}` };
  }
}

function setLimit(row, limit) {
  const select = row.querySelector("[data-quantity]");
  const note = row.querySelector("[data-limit-note]");
  if (!select) return;
  const current = Number(select.value) || 0;
  const chosen = Math.min(current, limit);
  select.replaceChildren(
    ...Array.from({ length: limit + 1 }, (_, n) => new Option(String(n), String(n), false, n === chosen)),
  );
  select.disabled = limit === 0;
  row.classList.toggle("is-sold-out", limit === 0);
  // The note stays until the customer changes this quantity: a later live
  // update that changes nothing must not take it away before it is read.
  if (note && chosen !== current) {
    note.hidden = false;
    note.textContent = limit === 0
      ? "These just sold out."
      : `Only ${limit} left now; your choice was lowered to ${limit}.`;
  }
}

function clearNote(row) {
  const note = row?.querySelector("[data-limit-note]");
  if (note) {
    note.hidden = true;
    note.textContent = "";
  }
}

// The waitlist offers the sold-out types only while others are on sale, and
// its heading names them rather than calling the event sold out
// (purchase/waitlist_forms.py says the same for the first render).
function waitlistHeading(names) {
  if (!names) return "Sold out — join the waitlist";
  if (names.length === 1) return `${names[0]} is sold out — join its waitlist`;
  const listed = `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
  return `${listed} are sold out — join their waitlist`;
}

// The waitlist card shows while something is sold out (the event as a whole,
// or a type), but only while the waitlist can make offers: before sales open
// and from HOLD_MINUTES before they close, joining is refused
// (core.services.waitlist.offers_open). The page says when, and whether the
// server found offers over already.
function waitlistOffersOpen(card) {
  if (card.hasAttribute("data-offers-closed")) return false;
  const now = Date.now();
  const from = Date.parse(card.dataset.offersFrom || "");
  const until = Date.parse(card.dataset.offersUntil || "");
  return !(now < from) && !(now > until);
}

function showWaitlist(card, detail) {
  const types = detail?.availability ?? [];
  const somethingSoldOut = Boolean(detail?.summary?.is_sold_out) || types.some((item) => item.sold_out);
  card.hidden = !(types.length && somethingSoldOut && waitlistOffersOpen(card));
}

function updateWaitlistTypes(detail) {
  const select = document.querySelector("[data-waitlist-form] select[name=ticket_type_id]");
  const types = detail?.availability;
  if (!select || !types) return;
  const soldOut = types.filter((item) => item.sold_out);
  const anyType = Boolean(detail.summary?.is_sold_out || !soldOut.length);
  const heading = document.querySelector("[data-waitlist-heading]");
  if (heading) heading.textContent = waitlistHeading(anyType ? null : soldOut.map((item) => item.name));
  const choices = anyType
    ? [["", "Any ticket type"], ...types.map((item) => [String(item.id), item.name])]
    : soldOut.map((item) => [String(item.id), item.name]);
  const current = Array.from(select.options, (option) => [option.value, option.text]);
  if (JSON.stringify(current) === JSON.stringify(choices)) return;
  const chosen = select.value;
  select.replaceChildren(
    ...choices.map(([value, label]) => new Option(label, value, false, value === chosen)),
  );
  select.required = choices[0][0] !== "";
}

// One key per page load, sent with the buy form: submitting the same form
// again (back from the payment page, a double tap) finds the order it placed
// instead of holding seats twice. The page is cached and shared (ADR 9), so
// the server cannot set it. A page the back/forward cache restores keeps its
// DOM, key and all; one loaded again by going back (no such cache) finds its
// key in its history entry. Any other load gets a new key.
function newCheckoutKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  if (globalThis.crypto?.getRandomValues) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  return Array.from({ length: 4 }, () => Math.random().toString(36).slice(2, 10).padEnd(8, "0")).join("");
}

function pageCheckoutKey() {
  const navigation = performance.getEntriesByType?.("navigation")?.[0];
  const kept = navigation?.type === "back_forward" ? history.state?.checkoutKey : null;
  const key = typeof kept === "string" && kept ? kept : newCheckoutKey();
  try {
    history.replaceState({ ...(history.state ?? {}), checkoutKey: key }, "");
  } catch {
    // No history to write to: the key still lasts as long as this page.
  }
  return key;
}

// The event taken off sale while the buyer fills the form (live.js shows
// the notice): every field stops, keeping what was typed, so nothing is
// sent to be refused. Fields stopped here start again if it comes back.
function stopForm(form, stopped) {
  for (const control of form.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (stopped && !control.disabled) {
      control.dataset.offSale = "1";
      control.disabled = true;
    } else if (!stopped && control.dataset.offSale) {
      delete control.dataset.offSale;
      // The quantities' limits are set again by the update that follows.
      control.disabled = false;
    }
  }
}

// Before sales open the page says when; at that moment it loads again, as
// the form it then needs (no push says so: nothing is written). A spread of
// a couple of seconds keeps every waiting phone from asking at once. A
// clock running ahead of the server's finds the page not open yet: it
// tries again a few seconds later rather than at once, over and over.
function reloadWhenSalesOpen(notice) {
  const opens = Date.parse(notice?.dataset.opensAt || "");
  if (Number.isNaN(opens)) return;
  const spread = () => Math.random() * 2000;
  // + 1: the page gives microseconds, which Date.parse drops.
  let due = opens + 1 + spread();
  if (due <= Date.now()) due = Date.now() + 5000 + spread();
  let timer = null;
  const check = () => {
    clearTimeout(timer);
    const wait = due - Date.now();
    if (wait <= 0) {
      location.reload();
      return;
    }
    // A timer may fire a little early; one longer than about 24 days fires
    // at once: wait in steps.
    timer = setTimeout(check, Math.min(wait, 2 ** 30));
  };
  check();
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") check();
  });
}

const opensAt = document.querySelector("[data-opens-at]");
reloadWhenSalesOpen(opensAt);

if (form) {
  const checkoutKey = form.querySelector("[data-checkout-key]");
  if (checkoutKey) checkoutKey.value = pageCheckoutKey();
  const money = formatter(form.dataset.currency || "usd");
  const total = form.querySelector("[data-order-total]");
  const button = form.querySelector("[data-buy-button]");

  let offSale = false;

  const update = () => {
    let sum = 0;
    let selectable = false;
    for (const row of form.querySelectorAll("[data-ticket-type]")) {
      const select = row.querySelector("[data-quantity]");
      if (!select) continue;
      sum += (Number(select.value) || 0) * Number(row.dataset.price || 0);
      selectable ||= !select.disabled;
    }
    if (total) total.textContent = money.format(sum);
    if (button && !button.dataset.busy) button.disabled = offSale || !selectable;
  };

  document.addEventListener("availability:unavailable", () => {
    offSale = true;
    stopForm(form, true);
    const waitlist = document.querySelector("[data-waitlist]");
    if (waitlist) waitlist.hidden = true;
    const notice = form.querySelector("[data-off-sale-notice]");
    const box = notice?.getBoundingClientRect();
    // A buyer typing further down must see why the form stopped.
    if (box && (box.bottom < 0 || box.top > window.innerHeight)) {
      notice.scrollIntoView({ block: "center", behavior: "smooth" });
    }
    update();
  });

  document.addEventListener("availability:update", (event) => {
    if (offSale) {
      offSale = false;
      stopForm(form, false);
    }
    const waitlist = document.querySelector("[data-waitlist]");
    if (waitlist) {
      showWaitlist(waitlist, event.detail);
      updateWaitlistTypes(event.detail);
    }
    // Nothing left at all: the contact fields only get in the way of the waitlist.
    const details = form.querySelector("[data-buy-details]");
    const soldOut = Boolean(event.detail?.summary?.is_sold_out);
    // Before sales open there is nothing to fill in yet (see reloadWhenSalesOpen).
    if (details) details.hidden = soldOut || Boolean(opensAt);
    const types = event.detail?.availability ?? [];
    const notice = form.querySelector("[data-event-sold-out]");
    if (notice) {
      notice.hidden = !soldOut;
      // Held by checkouts not paid yet, not sold: they may come back.
      const held = soldOut && types.some((item) => item.held_for_now);
      notice.toggleAttribute("data-held-for-now", held);
      const title = notice.querySelector("[data-sold-out-title]");
      if (title) title.textContent = held ? "All taken for now" : "Sold out";
      const help = notice.querySelector("[data-held-help]");
      if (help) help.hidden = !held;
    }
    for (const item of types) {
      const row = form.querySelector(`[data-ticket-type="${item.id}"]`);
      if (!row) continue;
      const rowBadge = row.querySelector("[data-sold-out-badge]");
      if (rowBadge) rowBadge.textContent = item.held_for_now ? "Taken for now" : "Sold out";
      const onSale = item.on_sale !== false;
      const limit = onSale ? Math.max(0, Math.min(item.max_per_order ?? Number(row.dataset.maxPerOrder), item.available)) : 0;
      setLimit(row, limit);
    }
    update();
  });

  form.addEventListener("change", (event) => {
    if (event.target.matches?.("[data-quantity]")) clearNote(event.target.closest("[data-ticket-type]"));
    update();
  });
  form.addEventListener("submit", () => {
    if (!button) return;
    button.dataset.busy = "1";
    button.disabled = true;
    button.textContent = "Holding your tickets…";
  });
  // Coming back with the browser's back button must not leave it stuck.
  window.addEventListener("pageshow", () => {
    if (button?.dataset.busy) {
      delete button.dataset.busy;
      button.textContent = "Continue to payment";
    }
    update();
  });
  update();
}
