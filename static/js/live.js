/*
 * live.js — live updates for every page, declared with data attributes.
 *
 *   data-live-list                 websocket /ws/events/; after each push the
 *                                  page is refetched and the element's cards
 *                                  ([data-event-card]) are swapped in place.
 *   data-live-event="<uuid>"       websocket /ws/events/<uuid>/availability/;
 *   data-availability-url="<url>"  on each push and (re)connect the JSON is
 *                                  refetched, generic markup updated and
 *                                  `availability:update` dispatched.
 *   data-live-feed="console"       (with data-live-event) the staff console's
 *                                  feed instead, /ws/events/<uuid>/console/,
 *                                  open for events off sale too; the JSON is
 *                                  then fetched with the staff session.
 *   data-live-fragment="<name>"    (on a page with a console data-live-event)
 *                                  when the event itself changes (a message
 *                                  with `change`) or the feed reconnects,
 *                                  the page is refetched and the fragment's
 *                                  content swapped for its fresh copy.
 *   data-follow-edits              (on a public data-live-event root) the
 *                                  same, anonymously, when the event or its
 *                                  types are edited (`change`, or reason
 *                                  `capacity`), on reconnect, and when the
 *                                  figures name, date, list or price the
 *                                  types otherwise than the page
 *                                  ([data-event-name], [data-event-starts],
 *                                  rows' data-name and data-price); then
 *                                  `live:page-fetched` (detail: {page}).
 *   data-live-door="<uuid>"        websocket /ws/events/<uuid>/door/ (staff);
 *                                  each message dispatched as `door:message`;
 *                                  a console data-live-event of the same
 *                                  event refetches its JSON on each.
 *   data-live-rows="<url>"         the console's event list: one websocket,
 *   data-live-rows-feed="<path>"   the staff list feed (default /ws/events/;
 *                                  every event's changes, drafts included),
 *                                  for all its rows; on each push and
 *                                  (re)connect one request to <url> (with the
 *                                  staff session) brings every row's totals,
 *                                  {"events": {"<uuid>": summary}}, and each
 *                                  row [data-live-row="<uuid>"] is updated as
 *                                  an event's summary is (below). When an
 *                                  event was created, put on or taken off
 *                                  sale (or the figures list other events
 *                                  than the rows), the page is refetched and
 *                                  its rows (keyed by data-live-key) and tab
 *                                  counts [data-live-count] swapped in.
 *
 * Events on `document`: availability:update (detail: the availability JSON),
 * availability:unavailable (detail: {eventId, status}), live:page-fetched
 * (detail: {page}: the public page fetched again), door:message (detail:
 * the message), live:resync (detail: {path}) after every (re)connect,
 * live:rows-updated once data-live-rows rows are, live:fragments-updated
 * once data-live-fragment parts are, and live:status (detail:
 * {state: "live" | "reconnecting" | "offline"}).
 *
 * Generic markup updated inside a [data-live-event] element, per ticket type
 * row [data-ticket-type="<id>"]: [data-available] text ("N left" / "Sold
 * out" / "Not on sale", override with data-available-format="{n} left",
 * data-sold-out-text, data-not-on-sale-text), [data-sold-out-badge] hidden
 * unless sold out (its words data-held-text while the type's last seats are
 * only held by people paying, else data-sold-text, if it has data-held-text),
 * [data-not-on-sale-badge] hidden unless the type is not
 * on sale, the row's is-sold-out class; numbers alone, the words around them
 * left to the template: [data-figure="sold|held|available|capacity"] the
 * row's figure, [data-unless-zero="<figure>"] hidden while it is 0,
 * [data-meter="<figure>"] a bar as wide as that figure's share of capacity;
 * for the whole event [data-summary-figure="total_sold|total_held|
 * total_available|total_capacity"] (the console's JSON adds total_paid,
 * total_free and checked_in), [data-summary-unless-zero="<figure>"] hidden
 * while it is 0, [data-summary-meter="<figure>"] a bar
 * as wide as that figure's share of total_capacity, [data-when-sold-out] and
 * [data-when-available] shown or hidden, [data-when-held-for-now] and
 * [data-unless-held-for-now] too where the summary says held_for_now (the
 * last seats only held by people paying), [data-when-unavailable] shown once
 * the event is no longer on sale. On a public page then (the API answers
 * 404), [data-when-available], [data-when-sold-out],
 * [data-unless-unavailable] and the rows' sold-out badges are hidden, the
 * rows' [data-available] say "Not on sale", and for a cancelled event
 * [data-when-cancelled] shown instead of [data-when-unavailable], with
 * [data-cancelled-message] and [data-cancel-reason] from the answer.
 *
 * A dropped socket reconnects with exponential backoff and full jitter; every
 * (re)connect refetches the snapshot, so a missed message never leaves the
 * page wrong. Close codes 4401/4403/4404 are final (no retry); 4000 (what
 * the signed-in person may see changed) reconnects at once, to be admitted
 * or refused (then finally) by what they may see now.
 */
(() => {
  "use strict";

  const FINAL_CLOSE_CODES = new Set([4401, 4403, 4404]);
  const ACCESS_CHANGED_CLOSE_CODE = 4000; // core.realtime.CLOSE_ACCESS_CHANGED
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const STABLE_AFTER_MS = 5000; // a connection this old resets the backoff
  const SHOW_RECONNECTING_AFTER_MS = 1500; // brief blips stay invisible

  const emit = (name, detail) =>
    document.dispatchEvent(new CustomEvent(name, { detail }));

  const wsUrl = (path) =>
    `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;

  /* One websocket that keeps itself connected. */
  class Feed {
    constructor(path, { onMessage, onOpen }) {
      this.path = path;
      this.onMessage = onMessage;
      this.onOpen = onOpen;
      this.state = "connecting";
      this.attempt = 0;
      this.timer = null;
      this.socket = null;
      this.stopped = false; // refused for good
      this.suspended = false; // page hidden in the back/forward cache
      this.connect();
    }

    connect() {
      clearTimeout(this.timer);
      this.timer = null;
      if (this.stopped || this.suspended || this.socket) return;
      let socket;
      try {
        socket = new WebSocket(wsUrl(this.path));
      } catch (error) {
        this.retry();
        return;
      }
      this.socket = socket;
      let openedAt = 0;
      socket.addEventListener("open", () => {
        openedAt = Date.now();
        this.setState("live");
        emit("live:resync", { path: this.path });
        this.onOpen();
      });
      socket.addEventListener("message", (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        if (message && typeof message === "object") this.onMessage(message);
      });
      socket.addEventListener("close", (event) => {
        if (this.socket === socket) this.socket = null;
        if (openedAt && Date.now() - openedAt > STABLE_AFTER_MS) this.attempt = 0;
        if (FINAL_CLOSE_CODES.has(event.code)) {
          this.stopped = true;
          this.setState("offline");
          return;
        }
        // Not a dropped connection: no backoff built up by earlier drops.
        if (event.code === ACCESS_CHANGED_CLOSE_CODE) this.attempt = 0;
        if (!this.suspended) this.retry();
      });
    }

    retry() {
      if (this.stopped || this.suspended || this.timer) return;
      this.setState(navigator.onLine === false ? "offline" : "reconnecting");
      const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
      this.attempt += 1;
      // Full jitter: a server restart must not bring every tab back at once.
      this.timer = setTimeout(() => this.connect(), Math.random() * ceiling);
    }

    /* Reconnect now (network back, tab visible again) if not connected. */
    wake() {
      this.suspended = false;
      if (this.stopped || this.socket) return;
      this.connect();
    }

    suspend() {
      this.suspended = true;
      clearTimeout(this.timer);
      this.timer = null;
      if (this.socket) {
        const socket = this.socket;
        this.socket = null;
        socket.close(1000);
      }
    }

    setState(state) {
      this.state = state;
      status.update();
    }
  }

  /* The header's discreet indicator and live:status events. */
  const status = {
    feeds: [],
    shown: null,
    pending: null,

    state() {
      const states = this.feeds.map((feed) => feed.state);
      if (states.includes("offline")) return "offline";
      if (states.every((state) => state === "live")) return "live";
      return "reconnecting";
    },

    update() {
      if (!this.feeds.length) return;
      const state = this.state();
      if (state === "reconnecting" && this.shown !== "reconnecting") {
        this.pending ??= setTimeout(() => {
          this.pending = null;
          if (this.state() === "reconnecting") this.show("reconnecting");
        }, SHOW_RECONNECTING_AFTER_MS);
        return;
      }
      clearTimeout(this.pending);
      this.pending = null;
      this.show(state);
    },

    show(state) {
      if (state === this.shown) return;
      this.shown = state;
      const labels = { live: "Live", reconnecting: "Reconnecting…", offline: "Offline" };
      for (const indicator of document.querySelectorAll("[data-live-indicator]")) {
        indicator.hidden = false;
        indicator.dataset.state = state;
        indicator.textContent = labels[state];
        indicator.title =
          state === "live"
            ? "This page updates by itself"
            : "Live updates paused; the page will catch up when they resume";
      }
      emit("live:status", { state });
    },
  };

  /* Run `task` now, or once more after the run in flight (never in parallel). */
  const coalesced = (task) => {
    let running = false;
    let again = false;
    const run = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          try {
            await task();
          } catch (error) {
            // Network hiccup: the next push or reconnect fetches again.
          }
        } while (again);
      } finally {
        running = false;
      }
    };
    return run;
  };

  /* --- the event list ---------------------------------------------------- */

  const cardKey = (element) =>
    element.getAttribute("data-event-card") || element.getAttribute("data-live-key");

  /* Make target's element children match source's, keeping unchanged nodes
   * (and so focus and loaded images) where they are. */
  const morphChildren = (target, source) => {
    const kept = new Map();
    for (const child of target.children) {
      const key = cardKey(child);
      if (key) kept.set(key, child);
    }
    const next = Array.from(source.children, (child) => {
      const old = kept.get(cardKey(child));
      return old && old.isEqualNode(child) ? old : document.importNode(child, true);
    });
    next.forEach((node, index) => {
      const current = target.children[index];
      if (current !== node) target.insertBefore(node, current || null);
    });
    while (target.children.length > next.length) target.lastElementChild.remove();
  };

  const refreshLists = coalesced(async () => {
    const response = await fetch(location.href, {
      cache: "no-store",
      // Anonymous: the list is public, and a session fetch could consume
      // flash messages meant for the page the visitor opens next.
      credentials: "omit",
      headers: { "X-Live-Refresh": "list" },
    });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const freshLists = fresh.querySelectorAll("[data-live-list]");
    document.querySelectorAll("[data-live-list]").forEach((list, index) => {
      const name = list.getAttribute("data-live-list");
      const match =
        (name && fresh.querySelector(`[data-live-list="${CSS.escape(name)}"]`)) ||
        freshLists[index];
      if (match) morphChildren(list, match);
    });
    emit("live:list-updated", {});
  });

  /* --- one event's availability ------------------------------------------ */

  /* Only the number: the words around it are the template's, said once. */
  const setNumber = (element, value) => {
    if (typeof value !== "number") return;
    const text = String(value);
    if (element.textContent !== text) element.textContent = text;
  };

  /* An event's totals: its summary figures, bars and sold-out markers. */
  const applySummary = (root, summary) => {
    for (const figure of root.querySelectorAll("[data-summary-figure]")) {
      setNumber(figure, summary[figure.dataset.summaryFigure]);
    }
    for (const bar of root.querySelectorAll("[data-summary-meter]")) {
      const value = summary[bar.dataset.summaryMeter];
      if (typeof value !== "number") continue;
      const percent = Math.round((value * 100) / Math.max(summary.total_capacity, 1));
      bar.style.width = `${Math.min(100, Math.max(0, percent))}%`;
    }
    for (const part of root.querySelectorAll("[data-summary-unless-zero]")) {
      part.hidden = summary[part.dataset.summaryUnlessZero] === 0;
    }
    const soldOut = summary.is_sold_out;
    for (const el of root.querySelectorAll("[data-when-sold-out]")) el.hidden = !soldOut;
    for (const el of root.querySelectorAll("[data-when-available]")) el.hidden = soldOut;
    // The public figures say whether what is gone is only held by people
    // paying ("All taken for now": it may come back) rather than sold.
    if (typeof summary.held_for_now === "boolean") {
      const held = summary.held_for_now;
      for (const el of root.querySelectorAll("[data-when-held-for-now]")) el.hidden = !held;
      for (const el of root.querySelectorAll("[data-unless-held-for-now]")) el.hidden = held;
    }
  };

  const applyAvailability = (root, data) => {
    const rows = new Map(data.availability.map((row) => [String(row.id), row]));
    for (const element of root.querySelectorAll("[data-ticket-type]")) {
      const row = rows.get(element.getAttribute("data-ticket-type"));
      if (!row) continue;
      element.classList.toggle("is-sold-out", row.sold_out);
      for (const figure of element.querySelectorAll("[data-available]")) {
        let text;
        // data-sold-out-text="" leaves saying it to the row's badge.
        if (row.sold_out) text = figure.dataset.soldOutText ?? "Sold out";
        else if (row.on_sale === false) {
          text = figure.dataset.notOnSaleText || "Not on sale";
        } else {
          text = (figure.dataset.availableFormat || "{n} left").replace(
            "{n}",
            String(row.available),
          );
        }
        if (figure.textContent !== text) figure.textContent = text;
      }
      for (const badge of element.querySelectorAll("[data-sold-out-badge]")) {
        badge.hidden = !row.sold_out;
        if (badge.dataset.heldText) {
          const text = row.held_for_now
            ? badge.dataset.heldText
            : badge.dataset.soldText || "Sold out";
          if (badge.textContent !== text) badge.textContent = text;
        }
      }
      for (const badge of element.querySelectorAll("[data-not-on-sale-badge]")) {
        badge.hidden = row.on_sale !== false;
      }
      for (const figure of element.querySelectorAll("[data-figure]")) {
        setNumber(figure, row[figure.dataset.figure]);
      }
      for (const part of element.querySelectorAll("[data-unless-zero]")) {
        part.hidden = row[part.dataset.unlessZero] === 0;
      }
      for (const bar of element.querySelectorAll("[data-meter]")) {
        const value = row[bar.dataset.meter];
        if (typeof value !== "number") continue;
        // Rounded as the server's {% widthratio %} draws it.
        const percent = Math.round((value * 100) / Math.max(row.capacity, 1));
        bar.style.width = `${Math.min(100, Math.max(0, percent))}%`;
      }
    }
    applySummary(root, data.summary);
    for (const el of root.querySelectorAll("[data-when-unavailable], [data-when-cancelled]")) {
      el.hidden = true;
    }
    for (const el of root.querySelectorAll("[data-unless-unavailable]")) el.hidden = false;
  };

  /* A public page's event no longer on sale: what only makes sense on sale
   * ([data-when-available], [data-when-sold-out], [data-unless-unavailable])
   * goes; [data-when-unavailable] shows, or for a cancellation (the API's
   * answer, `cancelled`) [data-when-cancelled] where the page has one, its
   * [data-cancelled-message] and [data-cancel-reason] filled in. */
  const applyUnavailable = (root, cancelled) => {
    const gone = root.querySelectorAll(
      "[data-when-available], [data-when-sold-out], [data-unless-unavailable]",
    );
    for (const el of gone) el.hidden = true;
    // Its types are neither sold out nor have seats left: not on sale.
    for (const element of root.querySelectorAll("[data-ticket-type]")) {
      element.classList.remove("is-sold-out");
      for (const badge of element.querySelectorAll("[data-sold-out-badge]")) badge.hidden = true;
      for (const figure of element.querySelectorAll("[data-available]")) {
        if (figure.textContent !== "Not on sale") figure.textContent = "Not on sale";
      }
    }
    const saysCancelled = Boolean(cancelled) && Boolean(root.querySelector("[data-when-cancelled]"));
    for (const el of root.querySelectorAll("[data-when-unavailable]")) el.hidden = saysCancelled;
    for (const el of root.querySelectorAll("[data-when-cancelled]")) el.hidden = !saysCancelled;
    if (!saysCancelled) return;
    for (const el of root.querySelectorAll("[data-cancelled-message]")) {
      if (cancelled.message) el.textContent = cancelled.message;
    }
    for (const el of root.querySelectorAll("[data-cancel-reason]")) {
      el.textContent = cancelled.cancel_reason ?? "";
      el.hidden = !el.textContent;
    }
  };

  /* What an edit changes of the figures' event: its name and start, its
   * ticket types and their names and prices. */
  const shownFacts = (data) => [
    data.event?.name,
    Date.parse(data.event?.event_date ?? ""),
    (data.availability ?? []).map((row) => [String(row.id), row.name, Number(row.price)]),
  ];

  /* Whether a public page (a root with data-follow-edits) shows other facts
   * than `data`: [data-event-name]'s text, [data-event-starts]'s moment, its
   * ticket type rows (but those marked data-gone, left to say so) and their
   * data-name and data-price, as the server rendered them. */
  const showsOtherFacts = (root, data) => {
    if (!root.hasAttribute("data-follow-edits")) return false;
    const [name, starts, types] = shownFacts(data);
    for (const element of root.querySelectorAll("[data-event-name]")) {
      if (element.textContent.trim() !== name) return true;
    }
    for (const element of root.querySelectorAll("[data-event-starts]")) {
      if (Date.parse(element.getAttribute("data-event-starts")) !== starts) return true;
    }
    const rows = root.querySelectorAll("[data-ticket-type]:not([data-gone])");
    if (rows.length !== types.length) return true;
    const byId = new Map(types.map((type) => [type[0], type]));
    for (const row of rows) {
      const type = byId.get(row.getAttribute("data-ticket-type"));
      if (!type) return true;
      const shownName = row.getAttribute("data-name");
      if (shownName !== null && shownName !== type[1]) return true;
      const shownPrice = row.getAttribute("data-price");
      if (shownPrice !== null && Number(shownPrice) !== type[2]) return true;
    }
    return false;
  };

  const watchEvent = (eventId, roots) => {
    const url = roots
      .map((root) => root.getAttribute("data-availability-url"))
      .find(Boolean);
    const staff = roots.some((root) => root.getAttribute("data-live-feed") === "console");
    let followEdits = null; // public pages: see below
    const refresh = coalesced(async () => {
      if (!url) return;
      const response = await fetch(url, {
        cache: "no-store",
        // The public API needs no cookies; the console's figures need the
        // staff session (a 401/403 once it ends keeps the figures shown).
        credentials: staff ? "same-origin" : "omit",
      });
      if (response.status === 404) {
        if (staff) {
          for (const root of roots) {
            for (const el of root.querySelectorAll("[data-when-unavailable]")) {
              el.hidden = false;
            }
          }
          emit("availability:unavailable", { eventId, status: response.status });
          return;
        }
        let answer = {};
        try {
          answer = await response.json();
        } catch (error) {
          // Not the API's answer (a proxy's page): off sale, for all it says.
        }
        const cancelled = answer?.code === "event_cancelled";
        for (const root of roots) applyUnavailable(root, cancelled ? answer : null);
        emit("availability:unavailable", {
          eventId,
          status: response.status,
          cancelled,
          message: cancelled ? answer.message : "",
          cancelReason: cancelled ? answer.cancel_reason ?? "" : "",
        });
        return;
      }
      if (!response.ok) return;
      const data = await response.json();
      for (const root of roots) applyAvailability(root, data);
      // Before the page's own script sees the figures: they are compared
      // with what the server rendered, not with what a script made of them.
      if (followEdits) followEdits(data);
      emit("availability:update", data);
    });
    // A console page also listening to the event's door (data-live-door)
    // refetches on each scan: its check-ins are not availability changes.
    if (staff) {
      document.addEventListener("door:message", ({ detail }) => {
        if (!detail || !detail.event_id || detail.event_id === eventId) refresh();
      });
    }
    const feed = staff ? "console" : "availability";
    if (!staff) {
      // The event edited (a `change`, or its types: `capacity`) or missed
      // while disconnected: the page's words are the server's, so its
      // [data-live-fragment] parts are fetched again. The figures tell of
      // an edit too (a name, start, type or price the page does not show),
      // in case its push was folded into another.
      const refreshPage = publicPageRefresher(refresh);
      let shownFor = null;
      followEdits = (data) => {
        const facts = JSON.stringify(shownFacts(data));
        if (facts === shownFor) return;
        if (roots.some((root) => showsOtherFacts(root, data))) {
          shownFor = facts; // once per edit, should the page lag behind
          refreshPage();
        }
      };
      let connected = false;
      return new Feed(`/ws/events/${encodeURIComponent(eventId)}/${feed}/`, {
        onMessage: (message) => {
          refresh();
          if (message && (message.change || message.reason === "capacity")) {
            refreshPage();
          }
        },
        onOpen: () => {
          refresh();
          if (connected) refreshPage();
          connected = true;
        },
      });
    }
    // The event itself changed (edited, put on or off sale, cancelled, a
    // cancellation's refunds going out): its words are the server's, so the
    // page's [data-live-fragment] parts are fetched again too.
    let connected = false;
    return new Feed(`/ws/events/${encodeURIComponent(eventId)}/${feed}/`, {
      onMessage: (message) => {
        refresh();
        if (message && message.change) refreshFragments();
      },
      onOpen: () => {
        refresh();
        // Back after a drop: the event may have changed meanwhile.
        if (connected) refreshFragments();
        connected = true;
      },
    });
  };

  /* A fragment's markup without its forms' CSRF tokens, which differ on
   * every rendering: compared, they would rewrite the fragment every time. */
  const markupOf = (element) => {
    const copy = element.cloneNode(true);
    for (const token of copy.querySelectorAll('input[name="csrfmiddlewaretoken"]')) {
      token.removeAttribute("value");
    }
    return copy.innerHTML;
  };

  /* Swap in each [data-live-fragment="<name>"] whose content `fresh` (the
   * page fetched again) has changed. */
  const swapFragments = (fresh) => {
    for (const fragment of document.querySelectorAll("[data-live-fragment]")) {
      const name = fragment.getAttribute("data-live-fragment");
      const match = fresh.querySelector(`[data-live-fragment="${CSS.escape(name)}"]`);
      if (match && markupOf(match) !== markupOf(fragment)) {
        fragment.innerHTML = match.innerHTML;
      }
    }
  };

  /* Fetch this page again (with the staff session) and swap in each
   * [data-live-fragment="<name>"] whose content changed. */
  const refreshFragments = coalesced(async () => {
    if (!document.querySelector("[data-live-fragment]")) return;
    const response = await fetch(location.href, {
      cache: "no-store",
      credentials: "same-origin",
      headers: { "X-Live-Refresh": "fragments" },
    });
    if (!response.ok || response.redirected) return; // signed out: keep it
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    swapFragments(fresh);
    emit("live:fragments-updated", {});
  });

  /* A public event page's refetch: anonymous, as the list's (no flash
   * message consumed, and the page a visitor without cookies gets). Its
   * fragments and title are swapped in; `live:page-fetched` (detail:
   * {page}) lets the page's script take what holds the visitor's choices
   * (the buy form's ticket rows); then `refresh` (the figures) runs again,
   * for the parts the page brought in. */
  const publicPageRefresher = (refresh) =>
    coalesced(async () => {
      const response = await fetch(location.href, {
        cache: "no-store",
        credentials: "omit",
        headers: { "X-Live-Refresh": "fragments" },
      });
      if (!response.ok || response.redirected) return; // off sale: the figures say
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      swapFragments(fresh);
      if (fresh.title && document.title !== fresh.title) document.title = fresh.title;
      emit("live:page-fetched", { page: fresh });
      emit("live:fragments-updated", {});
      refresh();
    });

  /* --- the console's event list ------------------------------------------- */

  /* One feed and one request for every row, however many events: the list
   * feed folds a burst of changes into its latest message, so any push
   * refetches every row rather than the one it names. An event created, put
   * on or taken off sale (or edited, or deleted) changes the rows themselves
   * and the tabs' counts: then the page is refetched and its rows and counts
   * swapped in. Since a burst may fold that news into a sale's, the same is
   * done whenever the figures list other events than the rows shown. */
  const watchRows = (list) => {
    const url = list.getAttribute("data-live-rows");
    let rowsChanged = false;
    let connected = false;
    const shownIds = () =>
      Array.from(list.querySelectorAll("[data-live-row]"), (row) =>
        row.getAttribute("data-live-row"),
      );
    const refresh = coalesced(async () => {
      const whole = rowsChanged;
      rowsChanged = false;
      const response = await fetch(url, {
        cache: "no-store",
        credentials: "same-origin", // the staff session; a 401/403 keeps the figures
      });
      if (!response.ok) return;
      const data = await response.json();
      const events = data.events || {};
      const shown = shownIds();
      const listed = Object.keys(events);
      const sameRows =
        listed.length === shown.length && shown.every((id) => id in events);
      if ((whole || !sameRows) && (await refreshRowsPage(list))) {
        emit("live:rows-updated", {});
        return;
      }
      for (const row of list.querySelectorAll("[data-live-row]")) {
        const summary = events[row.getAttribute("data-live-row")];
        if (summary) applySummary(row, summary);
      }
      emit("live:rows-updated", {});
    });
    return new Feed(list.getAttribute("data-live-rows-feed") || "/ws/events/", {
      onMessage: (message) => {
        if (message.change) rowsChanged = true;
        refresh();
      },
      onOpen: () => {
        // Back after a drop: rows may have changed meanwhile. The first
        // connect follows the page's own rendering: its figures suffice.
        if (connected) rowsChanged = true;
        connected = true;
        refresh();
      },
    });
  };

  /* Fetch this page again (with the staff session) and swap in its rows and
   * tab counts ([data-live-count]); false if it did not come back as one. */
  const refreshRowsPage = async (list) => {
    const response = await fetch(location.href, {
      cache: "no-store",
      credentials: "same-origin",
      headers: { "X-Live-Refresh": "rows" },
    });
    if (!response.ok || response.redirected) return false; // signed out: keep it
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const freshList = fresh.querySelector("[data-live-rows]");
    if (!freshList) return false;
    morphChildren(list, freshList);
    for (const count of document.querySelectorAll("[data-live-count]")) {
      const name = count.getAttribute("data-live-count");
      const match = fresh.querySelector(`[data-live-count="${CSS.escape(name)}"]`);
      if (match && count.textContent !== match.textContent) {
        count.textContent = match.textContent;
      }
    }
    return true;
  };

  /* --- start ---------------------------------------------------------------- */

  const started = new Set();
  const startedRows = new WeakSet();

  const groupBy = (selector, attribute) => {
    const groups = new Map();
    for (const element of document.querySelectorAll(selector)) {
      const key = element.getAttribute(attribute);
      if (!key || started.has(`${attribute}:${key}`)) continue;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(element);
    }
    return groups;
  };

  /* Start feeds for any data-live-* element not yet watched (call again after
   * adding such elements to the page). */
  const scan = () => {
    const feeds = [];
    if (!started.has("list") && document.querySelector("[data-live-list]")) {
      started.add("list");
      feeds.push(new Feed("/ws/events/", { onMessage: refreshLists, onOpen: refreshLists }));
    }
    for (const [eventId, roots] of groupBy("[data-live-event]", "data-live-event")) {
      started.add(`data-live-event:${eventId}`);
      feeds.push(watchEvent(eventId, roots));
    }
    for (const list of document.querySelectorAll("[data-live-rows]")) {
      if (startedRows.has(list)) continue;
      startedRows.add(list);
      feeds.push(watchRows(list));
    }
    for (const [eventId] of groupBy("[data-live-door]", "data-live-door")) {
      started.add(`data-live-door:${eventId}`);
      feeds.push(
        new Feed(`/ws/events/${encodeURIComponent(eventId)}/door/`, {
          onMessage: (message) => emit("door:message", message),
          onOpen: () => {},
        }),
      );
    }
    status.feeds.push(...feeds);
    status.update();
  };

  const everyFeed = (method) => status.feeds.forEach((feed) => feed[method]());

  window.addEventListener("online", () => everyFeed("wake"));
  window.addEventListener("offline", () => status.update());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") everyFeed("wake");
  });
  // Let the page into the back/forward cache, and catch up when it returns.
  window.addEventListener("pagehide", () => everyFeed("suspend"));
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) everyFeed("wake");
  });

  window.Live = { scan };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", scan);
  } else {
    scan();
  }
})();
