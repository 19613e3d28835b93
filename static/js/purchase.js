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

// `lowered`: what the note says if the customer's choice had to be lowered
// (by default, that they sold out or how many are left); returned then.
function setLimit(row, limit, lowered = null) {
  const select = row.querySelector("[data-quantity]");
  const note = row.querySelector("[data-limit-note]");
  if (!select) return;
  const current = Number(select.value) || 0;
  const chosen = Math.min(current, limit);
  const options = Array.from(select.options, (option) => option.value);
  if (options.length !== limit + 1 || options.some((value, n) => value !== String(n))) {
    select.replaceChildren(
      ...Array.from({ length: limit + 1 }, (_, n) => new Option(String(n), String(n), false, n === chosen)),
    );
  }
  select.value = String(chosen);
  select.disabled = limit === 0;
  row.classList.toggle("is-sold-out", limit === 0);
  // The note stays until the customer changes this quantity: a later live
  // update that changes nothing must not take it away before it is read.
  if (chosen === current) return null;
  const said = lowered
    ?? (limit === 0 ? "These just sold out." : `Only ${limit} left now; your choice was lowered to ${limit}.`);
  if (note) {
    note.hidden = false;
    note.textContent = said;
  }
  return said;
}

// The type's name and price as the figures last gave them (the page's own,
// data-name and data-price, are what the server rendered: live.js compares
// those with the figures to tell an edit).
const typeName = (row) => row.dataset.liveName ?? row.dataset.name ?? "";
const typePrice = (row) => Number(row.dataset.livePrice ?? row.dataset.price ?? 0);

// A ticket type gone from sale (taken off sale, or deleted) while the page
// is open. Nothing chosen of it: its row goes. Chosen: the row stays to say
// so, its quantity set to 0, until the page is loaded again.
function goneFromSale(row) {
  if (row.dataset.gone) return null;
  const select = row.querySelector("[data-quantity]");
  const chosen = Number(select?.value) || 0;
  if (!chosen && !row.contains(document.activeElement)) {
    row.remove();
    return null;
  }
  row.dataset.gone = "1";
  const said = setLimit(row, 0, `${typeName(row)} is no longer on sale: it was taken out of your choice.`);
  row.classList.remove("is-sold-out");
  const available = row.querySelector("[data-available]");
  if (available) available.textContent = "No longer on sale";
  const badge = row.querySelector("[data-sold-out-badge]");
  if (badge) badge.hidden = true;
  return said;
}

// Words for screen readers (a visually hidden live region): what changed
// under the buyer, said once.
function announce(text) {
  const region = document.querySelector("[data-announce]");
  if (!region || !text) return;
  // The same words twice in a row are only read if they change: clear first.
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 100);
}

// Whether focus was on `element` and the update just hid, turned off or
// removed it: the browser then drops focus to the page, and a keyboard or
// screen-reader buyer is left nowhere.
function lostFocus(element) {
  if (!element || element === document.body) return false;
  return !element.isConnected || element.disabled || Boolean(element.closest("[hidden]"));
}

// Focus on what says what happened (a message, focusable by script only),
// which a screen reader then reads.
function focusMessage(element) {
  if (!element) return;
  if (!element.hasAttribute("tabindex")) element.setAttribute("tabindex", "-1");
  element.focus();
}

// The buy form's contact details, carried to the waitlist form when the
// tickets are gone: typed once, not twice. A field already filled in
// there is left as it is.
function carryToWaitlist(form) {
  const waitlist = document.querySelector("[data-waitlist-form]");
  if (!waitlist) return false;
  let carried = false;
  for (const name of ["name", "email", "phone"]) {
    const from = form.querySelector(`[name="${name}"]`);
    const to = waitlist.querySelector(`[name="${name}"]`);
    if (from?.value && to && !to.value) {
      to.value = from.value;
      carried = true;
    }
  }
  return carried;
}

// The page fetched again after an edit (live.js `live:page-fetched`): each
// type's row takes the server's words (name, description, price) and
// attributes, keeping its quantity, note and focus; new types come in, in
// the server's order; types gone from sale go (goneFromSale).
function takeRowsFrom(form, freshForm) {
  const fieldset = form.querySelector(".ticket-choices");
  const freshFieldset = freshForm.querySelector(".ticket-choices");
  if (!fieldset || !freshFieldset) return;
  const rowsOf = (element) => Array.from(element.querySelectorAll(":scope > [data-ticket-type]"));
  const current = new Map(rowsOf(fieldset).map((row) => [row.dataset.ticketType, row]));
  if (!current.size) {
    // Nothing could be chosen yet: the server's list as it is.
    fieldset.innerHTML = freshFieldset.innerHTML;
    for (const row of rowsOf(fieldset)) row.dataset.priceSeen = row.dataset.price;
    return;
  }
  const wanted = [];
  for (const fresh of rowsOf(freshFieldset)) {
    let row = current.get(fresh.dataset.ticketType);
    current.delete(fresh.dataset.ticketType);
    if (row) {
      takeRowFrom(row, fresh);
    } else {
      row = document.importNode(fresh, true);
      row.dataset.priceSeen = row.dataset.price;
    }
    wanted.push(row);
  }
  for (const row of current.values()) {
    goneFromSale(row);
    if (row.isConnected) wanted.push(row);
  }
  // Moved only where out of place: moving the row with focus would lose it.
  wanted.forEach((row, index) => {
    const here = rowsOf(fieldset)[index];
    if (here !== row) fieldset.insertBefore(row, here ?? null);
  });
}

function takeRowFrom(row, fresh) {
  for (const name of ["name", "price", "maxPerOrder"]) {
    if (fresh.dataset[name] !== undefined) row.dataset[name] = fresh.dataset[name];
  }
  delete row.dataset.liveName;
  delete row.dataset.livePrice;
  if (row.dataset.gone) {
    // Back on sale: the figures that follow set its quantities again.
    delete row.dataset.gone;
    clearNote(row);
  }
  for (const selector of [".price-name", ".price-amount"]) {
    const mine = row.querySelector(selector);
    const theirs = fresh.querySelector(selector);
    if (mine && theirs && mine.innerHTML !== theirs.innerHTML) mine.innerHTML = theirs.innerHTML;
  }
  const available = row.querySelector("[data-available]");
  const freshAvailable = fresh.querySelector("[data-available]");
  if (available && freshAvailable) {
    available.dataset.notOnSaleText = freshAvailable.dataset.notOnSaleText ?? "";
  }
  const select = row.querySelector("[data-quantity]");
  const freshSelect = fresh.querySelector("[data-quantity]");
  for (const attribute of ["aria-label", "aria-describedby"]) {
    const value = freshSelect?.getAttribute(attribute);
    if (select && value != null) select.setAttribute(attribute, value);
  }
}

// A quantity select's description: its row's price, what is left, the
// sold-out badge while it shows (hidden, it would still be read) and the
// note, by id (the template's list, kept as the row changes).
function describe(row) {
  const select = row.querySelector("[data-quantity]");
  if (!select) return;
  const parts = [".price-amount", "[data-available]", "[data-sold-out-badge]", "[data-limit-note]"]
    .map((selector) => row.querySelector(selector))
    .filter((part) => part?.id && !(part.matches("[data-sold-out-badge]") && part.hidden));
  const ids = parts.map((part) => part.id).join(" ");
  if (select.getAttribute("aria-describedby") !== ids) select.setAttribute("aria-describedby", ids);
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
// Seats only held by people paying are "taken for now", as the notice says.
function waitlistHeading(names, held) {
  if (!names) return held ? "All taken for now — join the waitlist" : "Sold out — join the waitlist";
  const gone = held ? "taken for now" : "sold out";
  if (names.length === 1) return `${names[0]} is ${gone} — join its waitlist`;
  const listed = `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
  return `${listed} are ${gone} — join their waitlist`;
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
  if (heading) {
    const held = anyType
      ? Boolean(detail.summary?.held_for_now ?? types.some((item) => item.held_for_now))
      : soldOut.every((item) => item.held_for_now);
    heading.textContent = waitlistHeading(anyType ? null : soldOut.map((item) => item.name), held);
  }
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

  const priceChange = form.querySelector("[data-price-change]");
  const priceText = (price) => (price === 0 ? "free" : money.format(price));

  let offSale = false;

  // A type's sales closing while the page is open: nothing is written, so
  // no push says so. It closes here at that moment, as the server will
  // answer from then (its figures' cache ends then too), and each later
  // update keeps it closed (a clock running ahead closes it a little early).
  const closeTimers = new Map();
  const closesAt = new Map();
  const salesClosed = (id) => closesAt.get(id) <= Date.now();

  const closeSales = (row) => {
    const available = row.querySelector("[data-available]");
    if (available) {
      available.dataset.notOnSaleText = "Sales closed";
      available.textContent = "Sales closed";
    }
    const badge = row.querySelector("[data-sold-out-badge]");
    if (badge) badge.hidden = true;
    row.classList.remove("is-sold-out");
    return setLimit(row, 0, `Sales of ${typeName(row)} just closed: it was taken out of your choice.`);
  };

  const closeDueSales = () => {
    const lowered = [];
    for (const [id] of closesAt) {
      const row = form.querySelector(`[data-ticket-type="${id}"]`);
      if (!row || !salesClosed(id) || row.dataset.salesClosed) continue;
      row.dataset.salesClosed = "1";
      const said = closeSales(row);
      if (said) lowered.push([row, said]);
      describe(row);
    }
    return lowered;
  };

  const scheduleSalesClose = (types) => {
    closesAt.clear();
    for (const item of types) {
      const at = Date.parse(item.closes_at ?? "");
      if (!Number.isNaN(at)) closesAt.set(String(item.id), at);
    }
    for (const [id, timer] of closeTimers) {
      clearTimeout(timer);
      closeTimers.delete(id);
    }
    for (const [id, at] of closesAt) {
      if (at <= Date.now()) continue;
      // A timer longer than about 24 days fires at once: wait in steps.
      const wait = () => {
        const left = at - Date.now();
        if (left > 0) {
          closeTimers.set(id, setTimeout(wait, Math.min(left, 2 ** 30)));
          return;
        }
        closeTimers.delete(id);
        const focused = document.activeElement;
        const lowered = closeDueSales();
        update();
        tellWhatChanged({ focused, soldOutNow: false, lowered });
      };
      wait();
    }
  };
  // Timers wait longer in a tab in the background: catch up when it shows.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    const focused = document.activeElement;
    const lowered = closeDueSales();
    if (!lowered.length) return;
    update();
    tellWhatChanged({ focused, soldOutNow: false, lowered });
  });

  // The price each type had when the page was opened (or when it came in).
  for (const row of form.querySelectorAll("[data-ticket-type]")) {
    row.dataset.priceSeen ??= row.dataset.price;
  }

  const update = () => {
    let sum = 0;
    let selectable = false;
    const changed = [];
    for (const row of form.querySelectorAll("[data-ticket-type]")) {
      const select = row.querySelector("[data-quantity]");
      if (!select) continue;
      const quantity = Number(select.value) || 0;
      const price = typePrice(row);
      sum += quantity * price;
      selectable ||= !select.disabled;
      const seen = Number(row.dataset.priceSeen ?? price);
      // Charged at the new price: said before the customer pays it.
      if (quantity && price !== seen) {
        changed.push(`${typeName(row)} is now ${priceText(price)} (was ${priceText(seen)}).`);
      }
    }
    if (total) total.textContent = money.format(sum);
    const said = changed.join(" ");
    if (priceChange && priceChange.textContent !== said) priceChange.textContent = said;
    if (button && !button.dataset.busy) button.disabled = offSale || !selectable;
  };

  document.addEventListener("live:page-fetched", (event) => {
    const freshForm = event.detail?.page?.querySelector("[data-buy-form]");
    if (freshForm) takeRowsFrom(form, freshForm);
    update();
  });

  document.addEventListener("availability:unavailable", () => {
    const focused = document.activeElement;
    const wasOffSale = offSale;
    offSale = true;
    stopForm(form, true);
    const waitlist = document.querySelector("[data-waitlist]");
    if (waitlist) waitlist.hidden = true;
    // Not sold out: not on sale at all (live.js shows which, and why).
    const soldOutNotice = form.querySelector("[data-event-sold-out]");
    if (soldOutNotice) soldOutNotice.hidden = true;
    for (const row of form.querySelectorAll("[data-ticket-type]")) describe(row);
    const notice = form.querySelector("[data-off-sale-notice]:not([hidden])");
    const box = notice?.getBoundingClientRect();
    // A buyer typing further down must see why the form stopped.
    if (box && (box.bottom < 0 || box.top > window.innerHeight)) {
      notice.scrollIntoView({ block: "center", behavior: "smooth" });
    }
    update();
    if (wasOffSale || !notice) return;
    // The field typed in was turned off: focus goes to the reason, read out.
    if (lostFocus(focused)) focusMessage(notice);
    else announce(notice.textContent.replace(/\s+/g, " ").trim());
  });

  document.addEventListener("availability:update", (event) => {
    const focused = document.activeElement;
    const soldOutBefore = !form.querySelector("[data-event-sold-out]")?.hidden;
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
      notice.hidden = !(soldOut && types.length);
      // Held by checkouts not paid yet, not sold: they may come back.
      const held = soldOut && Boolean(event.detail.summary?.held_for_now ?? types.some((item) => item.held_for_now));
      notice.toggleAttribute("data-held-for-now", held);
      const title = notice.querySelector("[data-sold-out-title]");
      if (title) title.textContent = held ? "All taken for now" : "Sold out";
      const help = notice.querySelector("[data-held-help]");
      if (help) help.hidden = !held;
      const pointer = notice.querySelector("[data-waitlist-pointer]");
      if (pointer) pointer.hidden = !waitlist || waitlist.hidden;
    }
    const lowered = [];
    const listed = new Set(types.map((item) => String(item.id)));
    for (const row of form.querySelectorAll("[data-ticket-type]")) {
      if (listed.has(row.dataset.ticketType)) continue;
      const said = goneFromSale(row);
      if (said) lowered.push([row, said]);
    }
    for (const item of types) {
      const row = form.querySelector(`[data-ticket-type="${item.id}"]`);
      if (!row) continue; // new: live.js fetches the page, which brings its row
      if (row.dataset.gone) {
        // Back on sale: chosen again from 0.
        delete row.dataset.gone;
        clearNote(row);
      }
      if (typeof item.price === "number") row.dataset.livePrice = String(item.price);
      if (typeof item.name === "string") row.dataset.liveName = item.name;
      const rowBadge = row.querySelector("[data-sold-out-badge]");
      if (rowBadge) rowBadge.textContent = item.held_for_now ? "Taken for now" : "Sold out";
      const onSale = item.on_sale !== false;
      const limit = onSale ? Math.max(0, Math.min(item.max_per_order ?? Number(row.dataset.maxPerOrder), item.available)) : 0;
      // Only held by people paying, not sold: worded as the notice is.
      const taken = onSale && limit === 0 && item.held_for_now
        ? "Just taken by people paying; some may come back in a few minutes."
        : null;
      const said = setLimit(row, limit, taken);
      if (said) lowered.push([row, `${typeName(row)}: ${said[0].toLowerCase()}${said.slice(1)}`]);
      if (onSale) delete row.dataset.salesClosed;
    }
    scheduleSalesClose(types);
    lowered.push(...closeDueSales());
    for (const row of form.querySelectorAll("[data-ticket-type]")) describe(row);
    update();
    tellWhatChanged({ focused, soldOutNow: Boolean(notice && !notice.hidden && !soldOutBefore), notice, lowered });
  });

  // Said to screen readers, without losing focus: the event sold out (its
  // notice, what was typed carried to the waitlist), or a choice lowered
  // (each row's note). Focus dropped by the update goes to what says why.
  function tellWhatChanged({ focused, soldOutNow, notice, lowered }) {
    if (soldOutNow) {
      const pointer = notice.querySelector("[data-waitlist-pointer]");
      if (pointer && !pointer.hidden) {
        pointer.textContent = carryToWaitlist(form)
          ? "You can join the waitlist below: what you typed is filled in."
          : "You can join the waitlist below.";
      }
      if (lostFocus(focused)) focusMessage(notice);
      else announce(notice.innerText.replace(/\s+/g, " ").trim());
      return;
    }
    const noteOf = ([row]) => row.querySelector("[data-limit-note]:not([hidden])");
    // The note of the row focus was in, else of the first row lowered (the
    // pay button, say, turned off as the last choice went).
    let focusTo = null;
    if (lostFocus(focused) && lowered.length) {
      focusTo = noteOf(lowered.find(([row]) => row.contains(focused)) ?? lowered[0]);
    }
    const words = lowered.filter((entry) => noteOf(entry) !== focusTo).map(([, said]) => said);
    if (focusTo) focusMessage(focusTo);
    announce(words.join(" "));
  }

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
