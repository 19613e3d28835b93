// The door page: camera scanning with instant verdicts, live counters, the
// guest list, undo, and offline scanning that uploads when the network is back.
import {
  countTickets,
  eventTickets,
  findSignedPayload,
  forgetPending,
  getTicket,
  keepSnapshot,
  keptSnapshot,
  lastStatesMeta,
  markTicketUsed,
  parseCode,
  patchTicket,
  pendingAdmits,
  recordOfflineAdmit,
  recordOfflineRefusal,
  saveTicketStates,
  verifySignature,
  withoutPayload,
} from "./door-offline.js";
import { keepPageOffline } from "./door-keep.js";
import {
  isNetworkFailure,
  uploadRefusedForGood,
  uploadWaiting,
  usedFromAnswer,
  waitingByEvent,
} from "./door-upload.js";

const root = document.querySelector("[data-door]");
const cfg = root.dataset;
const EVENT = cfg.event;
const $ = (selector) => root.querySelector(selector);
const $$ = (selector) => root.querySelectorAll(selector);

// The same code must leave the camera this long before it is checked again.
const REPEAT_GAP_MS = 1500;
// A ticket this phone let in this recently, answered "already used" by its
// own admit (a double tap, the QR shown to the camera again): most likely the
// guest just let in, so no alarm, only a soft cue; but amber, not green, since
// it may as well be the screenshot passed back to a friend: staff look at who
// is there.
const ADMITTED_HERE_MS = 30000;
const VERDICT_MS = { admit: 1400, reject: 2800, attention: 4000, undone: 2500 };
// Text sizes a verdict tries, largest first, until it fits (fitVerdict); at
// half size a name is still about 15 px on the narrowest phones.
const VERDICT_FIT_STEPS = [1, 0.9, 0.8, 0.7, 0.6, 0.5];
// The ADMIT screen is gone fast for the queue; its undo stays this long more.
const UNDO_LAST_MS = 15000;
// After this long without an answer the door stops waiting and checks offline.
const REQUEST_TIMEOUT_MS = 3500;
const SNAPSHOT_EVERY_MS = 15000;
const STATES_EVERY_MS = 30000;
const FULL_STATES_EVERY_MS = 10 * 60 * 1000;
const PROBE_EVERY_MS = 5000;
const RECENT_MAX = 20;
const GUEST_RESULTS = 25; // as many as the online search returns
// A search shown is read again at most this often while the door is busy.
const GUEST_REFRESH_MS = 2000;
// How long an upload result stays in the network bar (conflicts get a notice
// of their own, showOfflineAlert, and join "Last scans").
const NOTE_MS = 8000;
const ATTENTION_NOTE_MS = 30000;
// What the bar says until staff name the door. No name is sent meanwhile:
// a made-up "Door 1" on every unnamed phone would send staff to the wrong
// door ("Already used at Door 1"), where no name just leaves it out.
const UNNAMED_DOOR_TEXT = "Name this door";
// Door labels that say nothing about which door (core.services.checkin's
// UNNAMED_DOORS): left out of "Already used at ..." here too.
const UNNAMED_DOORS = new Set(["door", "the door"]);
// Every ticket of a cancelled event, as the server refuses it
// (core.services.checkin.EVENT_CANCELLED).
const EVENT_CANCELLED = "Event cancelled — do not let in.";
// A refused text is kept this long at most to be logged: a ticket's code is
// under 160 characters, and a QR code can hold thousands of anything else.
const MAX_REFUSAL_TEXT = 1000;
// Where this phone keeps how far the server's clock is from its own.
const CLOCK_OFFSET_KEY = "door.clockOffset";
// A Date header names a second that began at most this long before the
// server wrote it (servers cache the header, refreshed every second or so).
const DATE_HEADER_SPAN_MS = 1500;

const state = {
  online: navigator.onLine !== false,
  scanner: null,
  lastCode: null,
  lastSeenAt: 0,
  inFlight: null,
  inFlightDone: Promise.resolve(),
  // Codes typed or tapped while another scan was in flight, waiting their turn.
  queued: new Set(),
  // Tickets this phone admitted online: code -> { at, seenAt } (againHere).
  admittedHere: new Map(),
  snapshotTimer: null,
  // Tickets whose row this page changed (an admit, an undo, an upload's
  // answer), by code: the number of the change (see refreshStates).
  changedHere: new Map(),
  changes: 0,
  applied: new Set(),
  verdictTimer: null,
  verdict: null,
  undoLast: null,
  undoLastTimer: null,
  audio: null,
  wedge: { field: null, buffer: "", before: [], runStart: 0, at: 0 },
  probeTimer: null,
  noteTimer: null,
  cameraMessageTimer: null,
  cameraStarting: false,
  wakeLock: null, // the screen wake lock held, or the promise asking for it
  // Why the server no longer takes this phone's requests (setAccess), or null.
  access: null,
  wedgeInUse: false,
  // The code typed by hand that matched no ticket: back in its box, selected,
  // once its verdict has gone.
  retype: null,
  // How the code on the verdict screen was read (submit's `method`), what
  // had the focus before it, and what it made inert (showVerdict).
  scanMethod: null,
  focusBefore: null,
  behind: [],
  // When the counters and last scans shown were the server's (renderAsOf).
  figuresAt: cfg.renderedAt,
  // The guest search shown (searchGuests), and its refresh timer.
  guestQuery: null,
  guestTimer: null,
  uploading: false,
  // Why the server refused an event's last upload for good, by event (see
  // uploadPending): that event's admits wait until something changes.
  uploadRefused: new Map(),
  lastFullStates: 0,
  // How far the server's clock is ahead of this phone's, in ms (serverNow).
  clockOffset: Number(localStorage.getItem(CLOCK_OFFSET_KEY)) || 0,
};

// --- Small helpers ------------------------------------------------------------

/** Now on the server's clock, as this phone best knows it. Offline admits
 * and refusals are timed by it, and "moments ago" is judged by it: the
 * server times every scan it logs by its own clock and takes no time from
 * its future, so a phone running fast had its offline admits logged at
 * their upload instead, and the guest it had just let in, read again, was
 * a red "already used" rather than this phone's admit. */
function serverNow() {
  return Date.now() + state.clockOffset;
}

/** Learn the server's clock from an answer's Date header, which names the
 * second (a cached one, on some servers) in which the server answered: its
 * clock was ahead of this phone's by at least `least` and at most `most`.
 * A phone whose clock agrees, as far as that tells, keeps its own, to the
 * millisecond; one that is off takes the least, so that a time it makes is
 * never in the server's future. Kept for a page opened offline. */
function learnServerClock(date, sentAt, receivedAt) {
  const serverTime = Date.parse(date || "");
  if (!Number.isFinite(serverTime)) return;
  const least = serverTime - receivedAt;
  const most = serverTime + DATE_HEADER_SPAN_MS - sentAt;
  const offset = least <= 0 && most >= 0 ? 0 : least;
  const changed = Math.abs(offset - state.clockOffset) > 250;
  state.clockOffset = offset;
  if (!changed) return;
  try {
    localStorage.setItem(CLOCK_OFFSET_KEY, String(Math.round(offset)));
  } catch {
    /* kept for this page only */
  }
}

function nonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Times are said in the event's time zone (an edit may change it: useTimeZone).
let timeFormat;
let dayFormat;

function useTimeZone(zone) {
  timeFormat = new Intl.DateTimeFormat(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZone: zone,
  });
  // The event's calendar day of a moment, and its parts for localWhen.
  dayFormat = new Intl.DateTimeFormat("en-US", {
    weekday: "short",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    timeZone: zone,
  });
}
useTimeZone(cfg.timeZone);

function localTime(iso) {
  try {
    return timeFormat.format(new Date(iso));
  } catch {
    return "";
  }
}

const MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(" ");

function dayParts(date) {
  return Object.fromEntries(dayFormat.formatToParts(date).map((p) => [p.type, p.value]));
}

/** "21:14" today, "Fri 12 Jan 21:14" on another day, in the event's time
 * zone: as the server says when (core.services.checkin._local_time_text). */
function localWhen(iso) {
  const time = localTime(iso);
  if (!time) return "";
  const day = dayParts(new Date(iso));
  const today = dayParts(new Date());
  if (["year", "month", "day"].every((part) => day[part] === today[part])) return time;
  return `${day.weekday} ${day.day} ${MONTHS[Number(day.month) - 1]} ${time}`;
}

function deviceLabel() {
  const input = $("[data-device-label]");
  return withoutPayload(input.value).trim();
}

/** A hand-typed code as the ticket shows it: staff may type it in lower
 * case, in groups ("9QY2 YXEDDQ") or with dashes, however a phone keyboard
 * writes them. The one place typed codes are cleaned: online the server gets
 * this (typedToSend), offline parseCode reads it, and camera scans never come
 * here. */
function typedCode(text) {
  return String(text || "")
    .replace(/[\s\-\u2010-\u2015\u2212]+/g, "")
    .toUpperCase();
}

/** What is sent for a code typed by hand: cleaned when that can be a
 * ticket's code, else as typed, so that text that cannot be one
 * ("NOT-A-TICKET!") is logged, and so shown, as staff typed it. */
function typedToSend(typed) {
  const code = typedCode(typed);
  return parseCode(code) ? code : typed;
}

/** "Already used at 21:14 at Door 2.", as the server says it
 * (core.services.checkin.already_used_message), from this phone's copy. */
function alreadyUsedMessage({ at, door, by }) {
  const parts = ["Already used"];
  const when = at ? localWhen(at) : "";
  if (when) parts.push(`at ${when}`);
  const label = namedDoor(door);
  if (label) parts.push(`at ${label}`);
  const who = String(by || "").trim();
  if (who) parts.push(`by ${who}`);
  return `${parts.join(" ")}.`;
}

/** A door's label, or "" for one that names no door in particular. */
function namedDoor(door) {
  const label = String(door || "").trim().replace(/\s+/g, " ");
  return label && !UNNAMED_DOORS.has(label.toLowerCase()) ? label : "";
}

async function fetchJson(url, options = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  const sentAt = Date.now();
  try {
    const response = await fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      ...options,
      signal: controller.signal,
      headers: {
        Accept: "application/json",
        ...(options.body ? { "Content-Type": "application/json" } : {}),
        ...(options.method && options.method !== "GET"
          ? { "X-CSRFToken": cfg.csrf }
          : {}),
        ...(options.headers || {}),
      },
    });
    learnServerClock(response.headers.get("Date"), sentAt, Date.now());
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    return { response, body };
  } finally {
    clearTimeout(timer);
  }
}

// --- Sound and vibration ------------------------------------------------------

function initAudio() {
  if (state.audio) return;
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  state.audio = new Context();
  state.audio.resume().catch(() => {});
}

function tone(freq, start, length, type = "sine", volume = 0.35) {
  const ctx = state.audio;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = type;
  osc.frequency.value = freq;
  gain.gain.setValueAtTime(0.0001, ctx.currentTime + start);
  gain.gain.exponentialRampToValueAtTime(volume, ctx.currentTime + start + 0.01);
  gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + start + length);
  osc.connect(gain).connect(ctx.destination);
  osc.start(ctx.currentTime + start);
  osc.stop(ctx.currentTime + start + length + 0.02);
}

function signal(verdict) {
  if (state.audio) {
    try {
      if (verdict === "admit") {
        tone(880, 0, 0.09);
        tone(1320, 0.1, 0.14);
      } else if (verdict === "reject") {
        tone(180, 0, 0.55, "sawtooth", 0.3);
      } else if (verdict === "again") {
        tone(520, 0, 0.16, "sine", 0.25);
      } else {
        tone(660, 0, 0.1, "square", 0.2);
        tone(660, 0.16, 0.1, "square", 0.2);
        tone(660, 0.32, 0.1, "square", 0.2);
      }
    } catch {
      /* no sound is better than no verdict */
    }
  }
  if (navigator.vibrate) {
    const patterns = {
      admit: [70],
      reject: [260, 90, 260],
      attention: [120, 60, 120, 60, 120],
      again: [40, 60, 40],
    };
    navigator.vibrate(patterns[verdict] || [100]);
  }
}

// --- Verdict screen -----------------------------------------------------------

const WORDS = {
  admit: "ADMIT",
  reject: "REJECT",
  attention: "CHECK",
  undone: "ADMIT UNDONE",
};

/** How a result is shown. An undo the staff asked for is a confirmation, not
 * an alarm, although it is logged (and pushed) with the verdict "attention". */
function shownVerdict(result) {
  return result.code === "undone" ? "undone" : result.verdict || "reject";
}

function showVerdict(result, { offlineCheck = false, text = "", typed = null } = {}) {
  if (typed != null) result = typedVerdict(result, typed);
  else state.retype = null; // another scan came first: leave the box as it is
  const box = $("[data-verdict]");
  const verdict = shownVerdict(result);
  state.verdict = { result, text };
  box.dataset.verdict = verdict;
  box.dataset.code = result.code;
  $("[data-verdict-word]").textContent = result.again
    ? "ALREADY IN"
    : WORDS[verdict] || "CHECK";
  const ticket = result.ticket || {};
  $("[data-verdict-name]").textContent = ticket.guest_name || "";
  $("[data-verdict-type]").textContent = ticket.ticket_type || "";
  let reason = verdict === "admit" ? "" : result.message || "";
  if (verdict === "undone") reason = result.reason ? `Reason: ${result.reason}` : "";
  if (offlineCheck) {
    reason = [reason, "Checked on this phone (offline)."].filter(Boolean).join(" ");
  }
  $("[data-verdict-reason]").textContent = reason;
  const undoable = verdict === "admit" && !offlineCheck && ticket.code;
  $("[data-verdict-undo]").hidden = !undoable;
  if (undoable) offerUndo(ticket);
  $("[data-verdict-admit-anyway]").hidden = !result.admitAnyway;
  // Where to go when scanning here cannot go on: sign in, or the event list.
  const leave = $("[data-verdict-signin]");
  leave.hidden = !result.leave;
  if (result.leave) {
    leave.href = result.leave.href;
    leave.textContent = result.leave.text;
  }
  if (box.hidden) {
    state.focusBefore = document.activeElement;
    makeBehindInert(box);
  }
  box.hidden = false;
  fitVerdict();
  // The verdict is what a screen reader says next, and the only thing Tab
  // reaches while it shows (WCAG 2.4.11: nothing focused hides under it).
  box.focus({ preventScroll: true });
  // An undo asked for: nothing to signal. A guest let in here just now: a
  // soft cue, no alarm, but not the admit's chime either, so that staff
  // whose eyes are on the queue still look (it may be a pass-back).
  if (verdict !== "undone") signal(result.again ? "again" : verdict);
  clearTimeout(state.verdictTimer);
  // A choice to make stays on screen until it is made.
  if (!result.admitAnyway && !result.leave) {
    state.verdictTimer = setTimeout(hideVerdict, VERDICT_MS[verdict] || 3000);
  }
}

// A typed code this long is shown cut short in its verdict.
const TYPED_SHOWN_MAX = 40;

/** The verdict for a code typed by hand. One that names no ticket is most
 * likely a typo: amber, saying what was typed, and the code stays in its box
 * to be put right (hideVerdict selects it). A camera's unreadable or forged
 * code stays a red REJECT. Any other answer empties the box for the next. */
function typedVerdict(result, typed) {
  const input = $("[data-manual-input]");
  // Offline, a short code that is not on this phone's list (no "Admit
  // anyway": only signed codes prove a ticket) stays in its box too.
  const notFound =
    result.code === "invalid" || (result.code === "unknown" && !result.admitAnyway);
  state.retype = null;
  if (result.unchecked) return result; // nothing checked: keep the code to try again
  if (!notFound) {
    if (input.value.trim() === typed) input.value = "";
    return result;
  }
  state.retype = typed;
  // Said as "Last scans" says it: the server's words, or offline (nothing
  // logged) the same words made here.
  const shown = TYPED_MISS.test(result.message || "")
    ? result.message.trim().replace(TYPED_MISS, "").replace(/\.$/, "")
    : typedAsLogged(typedToSend(typed));
  let message = `No ticket with code ${shown} — check the code and try again.`;
  if (result.code === "unknown") {
    // Offline, not found here is no typo: another event's real code, one
    // sold since the list came, or no list at all. Said as it is.
    message = result.noList
      ? `This phone has no ticket list yet, so ${shown} can't be checked offline — wait for the network.`
      : `Can't check ${shown} offline — it's not on this event's list.`;
  }
  return { ...result, verdict: "attention", message };
}

/** A typed `text` as the server words a miss of it (core.services.checkin's
 * _typed_miss): printable, spaces collapsed, cut at TYPED_SHOWN_MAX. */
function typedAsLogged(text) {
  const typed = Array.from(String(text).trim());
  const read = 2 * (TYPED_SHOWN_MAX + 1); // as much as the server reads
  const printable = typed
    .slice(0, read)
    .map((ch) => (/[\p{C}\p{Z}]/u.test(ch) ? " " : ch))
    .join("")
    .split(" ")
    .filter(Boolean);
  const shown = Array.from(printable.join(" "));
  if (shown.length <= TYPED_SHOWN_MAX && typed.length <= read) return shown.join("");
  return `${shown.slice(0, TYPED_SHOWN_MAX).join("").trimEnd()}…`;
}

/** Shrink the verdict's text (door.css's --fit) until it fits the screen
 * with no word broken and nothing to scroll: a short verdict keeps its full
 * size, a long name or reason gets smaller. Past the last step it wraps
 * anywhere and scrolls. */
function fitVerdict() {
  const box = $("[data-verdict]");
  if (box.hidden) return;
  const texts = [...box.querySelectorAll("p")];
  box.dataset.fitting = "";
  for (const fit of VERDICT_FIT_STEPS) {
    box.style.setProperty("--fit", fit);
    const fits =
      box.scrollHeight <= box.clientHeight &&
      texts.every((text) => text.scrollWidth <= text.clientWidth);
    if (fits) break;
  }
  delete box.dataset.fitting;
}

function hideVerdict() {
  clearTimeout(state.verdictTimer);
  const box = $("[data-verdict]");
  const shown = !box.hidden;
  const focused = box.contains(document.activeElement);
  box.hidden = true;
  state.verdict = null;
  releaseBehind();
  const input = $("[data-manual-input]");
  if (state.retype != null) {
    state.retype = null;
    input.focus();
    input.select();
  } else if (shown && (focused || document.activeElement === document.body)) {
    // Back in the code box, ready for the next code typed. A code read by
    // the camera or a keyboard-wedge scanner gives the focus back where it
    // was: a phone's code box would open its keyboard over the camera, and
    // a wedge typing into the code box would be read as typed by hand.
    const before = state.focusBefore;
    const read = state.scanMethod === "camera" || state.scanMethod === "keyboard";
    const target = !read ? input : before?.isConnected && before !== document.body ? before : null;
    if (target) target.focus({ preventScroll: true });
    else if (focused) document.activeElement.blur();
  }
  state.focusBefore = null;
}

/** Make everything but the verdict inert while it shows: the page behind
 * it, up to the body (the skip link too). An open dialog stays as it is. */
function makeBehindInert(box) {
  releaseBehind();
  for (let node = box; node.parentElement && node !== document.body; node = node.parentElement) {
    for (const sibling of node.parentElement.children) {
      if (sibling === node || sibling.inert || sibling.matches("script, dialog[open]")) continue;
      sibling.inert = true;
      state.behind.push(sibling);
    }
  }
}

/** Keys on the verdict: Tab goes round its own buttons (the page behind is
 * inert), Escape is "Next". */
function onVerdictKey(event) {
  if (event.key === "Escape") {
    event.preventDefault();
    hideVerdict();
    return;
  }
  if (event.key !== "Tab") return;
  const box = $("[data-verdict]");
  const stops = [box, ...box.querySelectorAll("button:not([hidden]), a[href]:not([hidden])")];
  const at = stops.indexOf(document.activeElement);
  const next = (at + (event.shiftKey ? -1 : 1) + stops.length) % stops.length;
  event.preventDefault();
  stops[next].focus();
}

function releaseBehind() {
  for (const element of state.behind) element.inert = false;
  state.behind = [];
}

/** Keep "Undo last admit" on the page after the ADMIT screen has gone. */
function offerUndo(ticket) {
  const button = $("[data-undo-last]");
  clearTimeout(state.undoLastTimer);
  state.undoLast = ticket;
  // The words stay whole; only the name is cut short (door.css).
  const label = document.createElement("span");
  label.className = "door-undo-label";
  label.textContent = "Undo last admit";
  const who = document.createElement("span");
  who.className = "door-undo-who";
  who.textContent = `(${ticket.guest_name || ticket.code})`;
  button.replaceChildren(label, " ", who);
  button.hidden = false;
  state.undoLastTimer = setTimeout(forgetUndo, VERDICT_MS.admit + UNDO_LAST_MS);
}

function forgetUndo(ticketCode = null) {
  if (ticketCode && state.undoLast?.code !== ticketCode) return;
  clearTimeout(state.undoLastTimer);
  state.undoLast = null;
  $("[data-undo-last]").hidden = true;
}

// --- Scanning -----------------------------------------------------------------

function onDecoded(text) {
  const now = performance.now();
  if (text === state.lastCode && now - state.lastSeenAt < REPEAT_GAP_MS) {
    state.lastSeenAt = now; // still in front of the camera: not again
    return;
  }
  if (state.inFlight !== null) return; // decoded again next frame
  state.lastCode = text;
  state.lastSeenAt = now;
  submit(text, "camera");
}

/** Check a code: `typed` is what staff typed, when they typed it by hand. */
async function submit(text, method, { typed = null } = {}) {
  if (!text) return;
  if (state.inFlight !== null) {
    if (method === "camera") return; // the camera will see it again
    // A double tap: the same code is on its way already. Sent again, the
    // server would answer "already used" to the guest just let in.
    if (text === state.inFlight || state.queued.has(text)) return;
    // Another code typed or tapped: its turn comes after the scan in flight.
    state.queued.add(text);
    try {
      while (state.inFlight !== null) await state.inFlightDone;
    } finally {
      state.queued.delete(text);
    }
  }
  state.inFlight = text;
  state.scanMethod = method;
  let finished;
  state.inFlightDone = new Promise((resolve) => {
    finished = resolve;
  });
  const scanNonce = nonce();
  try {
    if (!state.online) {
      await checkOffline(text, scanNonce, { typed });
      return;
    }
    // Let in here offline and not uploaded yet: the server has not heard of
    // it and would admit the ticket again. Answered here, and uploaded now.
    const ours = await waitingAdmitOf(text);
    if (ours) {
      const ticket = await getTicket(EVENT, ours.ticketCode).catch(() => null);
      showVerdict(pendingAdmitVerdict(ours, ticket), { typed });
      await keepRefusal(text, scanNonce, "already_used");
      uploadPending();
      return;
    }
    let response = null;
    let body = null;
    let failure = null;
    try {
      ({ response, body } = await fetchJson(cfg.scanUrl, {
        method: "POST",
        body: JSON.stringify({
          event: EVENT,
          code: text,
          nonce: scanNonce,
          device: deviceLabel(),
          method,
        }),
      }));
    } catch (error) {
      failure = error;
    }
    if (isNetworkFailure(failure, response)) {
      setOnline(false);
      // Same nonce: if the server did get it, the upload gets its answer back.
      await checkOffline(text, scanNonce, { typed });
      return;
    }
    setAccess(response, body);
    if (!response.ok || !body) {
      showVerdict(serverRefusal(response, body), { typed });
      return;
    }
    rememberAdmit(body);
    showVerdict(againHere(body), { typed });
    applyScan(scanFromResult(body));
    if (state.uploadRefused.size) {
      // The server takes this phone's scans again (signed in anew, say).
      state.uploadRefused.clear();
      uploadPending();
    }
  } finally {
    state.inFlight = null;
    finished();
  }
}

/** Note a ticket this phone has just let in (see againHere). */
function rememberAdmit(result) {
  const code = result.code === "ok" && result.ticket?.code;
  if (code) rememberHere(code, result.at);
}

/** Note ticket `code` let in by this phone at `at` (online or offline). */
function rememberHere(code, at) {
  const now = Date.now();
  for (const [known, admit] of state.admittedHere) {
    if (now - admit.seenAt > ADMITTED_HERE_MS) state.admittedHere.delete(known);
  }
  state.admittedHere.set(code, { at, seenAt: now });
}

/** Whether ticket `code`, used at `at`, is this phone's admit of moments ago.
 * The admit must be ours (the same time): one undone and let in again at
 * another door meanwhile is still refused, as is any admit from another door
 * or from longer ago. */
function admittedHereJustNow(code, at) {
  const ours = state.admittedHere.get(code);
  if (!ours || Date.now() - ours.seenAt > ADMITTED_HERE_MS) return false;
  return Boolean(at) && Date.parse(at) === Date.parse(ours.at);
}

/** The server's "already used" for a ticket this very phone admitted moments
 * ago is most likely that guest again: an amber "admitted here just now" with
 * their name and a soft cue, no alarm, for staff to see whether the person in
 * front of them is that guest. */
function againHere(result) {
  if (result.code !== "already_used") return result;
  return admittedHereJustNow(result.ticket?.code, result.used_at)
    ? alreadyIn(result, result.used_at)
    : result;
}

/** "ALREADY IN", amber with a soft cue, for a refusal `result` of a ticket this
 * phone let in at `at`, moments ago. */
function alreadyIn(result, at) {
  const when = localTime(at);
  return {
    ...result,
    verdict: "attention",
    code: "admitted_here",
    again: true,
    message: `Admitted here just now${when ? `, at ${when}` : ""}. The same guest? If not, don't let them in.`,
  };
}

/** The verdict for a ticket this phone let in offline, not uploaded yet: as
 * online, "ALREADY IN" for a moment after the admit, then a red "already used". */
function pendingAdmitVerdict(admit, ticket) {
  const door = namedDoor(admit.device);
  const refusal = {
    verdict: "reject",
    code: "already_used",
    message: `Already used at ${localWhen(admit.at)} on this phone${door ? ` (${door})` : ""}.`,
    ticket: guestOf(ticket),
  };
  // The admit's time is the server's clock (serverNow): it holds across a
  // reload, and after the upload it is the time the server logged.
  const age = serverNow() - Date.parse(admit.at);
  return age >= 0 && age <= ADMITTED_HERE_MS ? alreadyIn(refusal, admit.at) : refusal;
}

/** This phone's offline admit of ticket `code` still waiting to upload, or null. */
async function pendingAdmitFor(code) {
  const pending = await pendingAdmits(EVENT).catch(() => []);
  return pending.find((admit) => admit.ticketCode === code) || null;
}

/** This phone's offline admit, waiting to upload, of the ticket a scanned
 * `text` names, or null. A forged code, or another event's, is left to the
 * server to refuse (and log). */
async function waitingAdmitOf(text) {
  const parsed = parseCode(text);
  const ours = parsed && (await pendingAdmitFor(parsed.code));
  if (!ours) return null;
  if (parsed.kind === "signed") {
    if (parsed.eventKey !== cfg.eventKey) return null;
    // A browser with no Ed25519 (verify throws): the code names it all the same.
    if (!(await verifySignature(parsed, cfg.publicKey).catch(() => true))) return null;
  }
  return ours;
}

/** The verdict when the server would not check the scan at all. */
function serverRefusal(response, body) {
  const refusal = { verdict: "attention", code: body?.code || "error", unchecked: true };
  if (response.status === 401) {
    refusal.message = "You are signed out. Sign in again to keep scanning.";
  } else if (response.status === 403 && /^CSRF/.test(body?.message || "")) {
    refusal.message = "Your sign-in has changed. Sign in again to keep scanning.";
  } else if (response.status === 403) {
    // Signed in, with a door account, but taken off this event's door:
    // signing in again would only lead to "Not allowed".
    refusal.message = "You're no longer on this event's door — ask the owner.";
    refusal.leave = { href: $(".door-back").href, text: "Your events" };
    return refusal;
  } else {
    refusal.message =
      body?.message || `The server could not check this (${response.status}).`;
    return refusal;
  }
  refusal.leave = { href: cfg.loginUrl, text: "Sign in again" };
  return refusal;
}

function scanFromResult(result) {
  const ticket = result.ticket || {};
  return {
    id: result.scan_id,
    code: result.code,
    verdict: result.verdict,
    message: result.message,
    ticket_code: ticket.code || "",
    guest_name: ticket.guest_name || "",
    ticket_type: ticket.ticket_type || "",
    ticket_type_id: ticket.ticket_type_id,
    device: deviceLabel(),
    at: result.at,
    offline: result.offline,
  };
}

// --- Offline checking ---------------------------------------------------------

async function checkOffline(text, scanNonce, { force = false, typed = null } = {}) {
  const parsed = parseCode(text);
  const shown = { offlineCheck: true, typed };
  const refuse = async (message, verdict = "reject", code = "invalid", ticket = null) => {
    showVerdict({ verdict, code, message, ticket: guestOf(ticket) }, shown);
    await keepRefusal(text, scanNonce, code);
  };
  if (!parsed) return refuse("Not a valid ticket.");
  if (parsed.kind === "signed") {
    let valid = false;
    try {
      valid = await verifySignature(parsed, cfg.publicKey);
    } catch {
      // No Ed25519 here (before Chrome 137, Safari 17). A code on this
      // phone's list of the event's tickets is then as good as a typed one,
      // which the server accepts too: it is as hard to guess as the ticket.
      const listed =
        parsed.eventKey === cfg.eventKey && (await getTicket(EVENT, parsed.code));
      if (!listed) {
        return refuse(
          "This browser cannot check signatures offline, and this code is not on this phone's list. Use the guest list or wait for the network.",
          "attention",
          "unverifiable",
        );
      }
      valid = true;
    }
    if (!valid) return refuse("Not a valid ticket.");
    if (parsed.eventKey !== cfg.eventKey) {
      return refuse("This ticket is for another event.", "reject", "wrong_event");
    }
  }
  const ticket = await getTicket(EVENT, parsed.code);
  // Cancelled (the page says so): every ticket is void, as the server answers.
  if (eventCancelled()) {
    return refuse(EVENT_CANCELLED, "reject", "void", ticket);
  }
  // Let in here offline already, listed or admitted anyway: a shared
  // screenshot of the ticket gets no second "Admit anyway".
  const ours = await pendingAdmitFor(parsed.code);
  if (ours) {
    showVerdict(pendingAdmitVerdict(ours, ticket), shown);
    return keepRefusal(text, scanNonce, "already_used");
  }
  // Before check-in opens nobody is admitted, on the list or not, forced or
  // not: the server would refuse the upload (not_yet_valid) with the guest in.
  const notOpenYet = () =>
    refuse(
      `Not valid yet: check-in opens ${localWhen(cfg.opensAt)}.`,
      "attention",
      "not_yet_valid",
      ticket,
    );
  const opensLater = Boolean(cfg.opensAt) && serverNow() < Date.parse(cfg.opensAt);
  if (!ticket && !force) {
    // A genuine code not on the list could only be admitted anyway: not yet.
    if (parsed.kind === "signed" && opensLater) return notOpenYet();
    const known = await countTickets(EVENT);
    const message =
      parsed.kind === "signed"
        ? known
          ? "Genuine ticket, but not on this phone's list (sold after the last update?). Check ID, then admit if right."
          : "Genuine ticket, but this phone has no ticket list yet. Check ID, then admit if right."
        : "That code is not on this phone's list.";
    const result = { verdict: "attention", code: "unknown", message, noList: !known };
    // Not let in, unless staff admit it anyway: that admit is then this
    // scan's answer (under its scan id), and the refusal kept meanwhile,
    // under an id of its own, is forgotten.
    const asked = parsed.kind === "signed" ? `${scanNonce}-asked` : scanNonce;
    await keepRefusal(text, asked, "unknown");
    if (parsed.kind === "signed") {
      result.admitAnyway = async () => {
        await forgetPending([asked]).catch(() => {});
        return checkOffline(text, scanNonce, { force: true, typed });
      };
    }
    return showVerdict(result, shown);
  }
  if (ticket?.status === "void") {
    return refuse("This ticket was refunded or cancelled.", "reject", "void", ticket);
  }
  if (ticket?.status === "used") {
    const refusal = {
      verdict: "reject",
      code: "already_used",
      message: alreadyUsedMessage({
        at: ticket.used_at,
        door: ticket.used_device,
        by: ticket.used_by,
      }),
      ticket: guestOf(ticket),
    };
    // Let in by this phone moments ago: said as online says it (againHere).
    const again = admittedHereJustNow(parsed.code, ticket.used_at);
    showVerdict(again ? alreadyIn(refusal, ticket.used_at) : refusal, shown);
    return keepRefusal(text, scanNonce, "already_used");
  }
  if (opensLater) return notOpenYet();
  const at = new Date(serverNow()).toISOString();
  await recordOfflineAdmit({
    nonce: scanNonce,
    event: EVENT,
    // Said on the event list, and at another event's door, while it waits.
    eventName: cfg.eventName,
    // The very text sent online under this nonce: the server knows an answer
    // it gave by the nonce and the text's digest, so any other text (even
    // trimmed) would be a different scan under the same id.
    code: text,
    ticketCode: parsed.code,
    at,
    device: deviceLabel(),
  });
  rememberHere(parsed.code, at); // once uploaded, the server's "already used" is ours
  showVerdict(
    {
      verdict: "admit",
      code: "ok",
      message: "Admitted offline",
      ticket: guestOf(ticket),
    },
    shown,
  );
  // Count it here now; the server's counters take over after the upload.
  applyScan({
    id: `offline:${scanNonce}`,
    code: "ok",
    verdict: "admit",
    message: "Admitted, waiting to upload", // the list adds "(offline)"
    ticket_code: "",
    guest_name: ticket?.guest_name || "",
    ticket_type: ticket?.ticket_type || "",
    ticket_type_id: ticket?.ticket_type_id,
    device: deviceLabel(),
    at,
    offline: true,
  });
  await showPending();
}

/** Keep a scan this phone refused on its own (offline, or by its admit not
 * uploaded yet), to be logged with the next upload: the server logs every
 * attempt at the door, and it heard of none of these. `result` is the code
 * the verdict stood for: an "ALREADY IN" is an already used ticket. */
async function keepRefusal(text, refusalNonce, result) {
  try {
    await recordOfflineRefusal({
      nonce: refusalNonce,
      refusalOf: EVENT,
      code: String(text).slice(0, MAX_REFUSAL_TEXT),
      at: new Date(serverNow()).toISOString(),
      result,
      device: deviceLabel(),
    });
  } catch {
    /* not kept: the verdict stands, only its log row will be missing */
  }
}

/** Who a ticket of this phone's copy is for, as the verdict screen shows it
 * (no code: offline there is nothing to undo). */
function guestOf(ticket) {
  return ticket ? { guest_name: ticket.guest_name, ticket_type: ticket.ticket_type } : {};
}

async function showPending() {
  const waiting = await waitingByEvent();
  const label = $("[data-pending]");
  const lines = [];
  // This event's first, in the words it always had; then any other event's
  // (made offline there, uploaded from here: see uploadPending).
  const events = [...waiting].sort(([a], [b]) => Number(b === EVENT) - Number(a === EVENT));
  for (const [event, { admits, name }] of events) {
    if (!admits.length) continue;
    const why = state.uploadRefused.get(event);
    const which = event === EVENT ? "" : ` for ${name || "another event"}`;
    lines.push(
      why
        ? `${plural(admits.length, "offline admit")}${which} not uploaded: ${why}`
        : `${plural(admits.length, "offline admit")} waiting to upload${which}`,
    );
  }
  label.hidden = !lines.length;
  label.textContent = lines.join(". ");
  return waiting.get(EVENT)?.admits || [];
}

async function uploadPending() {
  if (state.uploading || !state.online) return;
  state.uploading = true;
  try {
    const outcome = await uploadWaiting({
      post: (payload) =>
        fetchJson(cfg.offlineUrl, { method: "POST", body: JSON.stringify(payload) }),
      first: EVENT,
      // Not again every few seconds, for ever: said until it changes.
      skip: new Set(state.uploadRefused.keys()),
      onRefused: ({ event, response, body, admits, nothingDone }) => {
        // Said only for admits: a refusal waiting changes nobody's entry.
        const note = (text) => {
          if (admits) networkNote(text, ATTENTION_NOTE_MS);
        };
        if (nothingDone) {
          note("Offline admits could not be uploaded yet.");
        } else if (uploadRefusedForGood(response)) {
          if (event === EVENT) setAccess(response, body);
          const why = serverRefusal(response, body).message;
          state.uploadRefused.set(event, why);
          note(`Offline admits not uploaded: ${why}`);
        } else {
          note(body?.message || "Offline admits could not be uploaded yet.");
        }
      },
      onAnswered: uploaded,
    });
    if (outcome === "offline") setOnline(false);
  } finally {
    state.uploading = false;
    await showPending();
  }
}

/** One upload answered: this event's refusals logged and conflicts join
 * "Last scans"; every ticket answered is used on this phone; admits that
 * need attention get a notice, whichever event they were made at. */
async function uploaded({ event, batch, refusals, answered, logged }) {
  const here = event === EVENT;
  if (here) {
    const refused = new Map(refusals.map((r) => [r.nonce, r]));
    for (const answer of logged) {
      // In "Last scans", as at every other door (the feed's copy is the same).
      const { device: madeAt } = refused.get(answer.nonce);
      if (answer.recorded) applyScan({ ...scanFromResult(answer), device: madeAt });
    }
  }
  const needAttention = [];
  for (const [admit, result] of answered) {
    if (here) {
      // Admits were counted when made offline; conflicts join the feed.
      if (result.code === "ok") state.applied.add(result.scan_id);
      else applyScan(scanFromResult(result));
    }
    await keepUsedHere(result, admit, event);
    if (result.verdict !== "admit") {
      const shown = await withGuestFromCopy(result, admit, event);
      needAttention.push(
        here ? shown : { ...shown, otherEvent: batch[0]?.eventName || "another event" },
      );
    }
  }
  if (answered.length) {
    const which = here ? "" : ` for ${batch[0]?.eventName || "another event"}`;
    networkNote(`${plural(answered.length, "offline admit")}${which} uploaded.`);
  }
  if (needAttention.length) showOfflineAlert(needAttention);
}

/** An upload answer saying the ticket is used (ours, or another door's
 * first) marks it used on this phone at once: a later list refresh may not
 * bring it (a conflict leaves the ticket as it was on the server). */
async function keepUsedHere(result, admit, event = EVENT) {
  const ticket = { code: admit.ticketCode, ...result.ticket };
  const used = ticket.code && usedFromAnswer(result, admit);
  if (!used) return;
  if (event === EVENT) noteChangedHere(ticket.code);
  await markTicketUsed(event, ticket, used).catch(() => {});
}

/** A ticket's row on this phone is newer than any list asked for before now. */
function noteChangedHere(code) {
  state.changes += 1;
  state.changedHere.set(code, state.changes);
}

/** An upload answer that names no guest (the server could not record it)
 * names the one this phone admitted, from its copy of the tickets. */
async function withGuestFromCopy(result, admit, event = EVENT) {
  if (result.ticket?.guest_name || !admit.ticketCode) return result;
  const ticket = await getTicket(event, admit.ticketCode).catch(() => null);
  return ticket ? { ...result, ticket: guestOf(ticket) } : result;
}

/** "1 offline admit", "2 offline admits". */
function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** Upload answers that were not plain admits, in a notice that stays until
 * dismissed: amber, not the network bar's calm green, and saying who got in
 * twice, when and by whom, so door staff can go and find them. Answers of
 * later uploads join those not yet dismissed. */
function showOfflineAlert(results) {
  const box = $("[data-offline-alert]");
  const list = $("[data-offline-alert-list]");
  if (box.hidden) list.replaceChildren();
  for (const result of results) {
    const li = document.createElement("li");
    li.dataset.code = result.code;
    const where = result.otherEvent ? `At ${result.otherEvent}: ` : "";
    li.textContent = `${where}${offlineAlertText(result)}`;
    list.append(li);
  }
  const count = list.children.length;
  box.dataset.count = String(count);
  $("[data-offline-alert-title]").textContent = `${plural(count, "offline admit")} ${
    count === 1 ? "needs" : "need"
  } checking`;
  box.hidden = false;
}

function hideOfflineAlert() {
  $("[data-offline-alert]").hidden = true;
  $("[data-offline-alert-list]").replaceChildren();
}

/** One upload answer in a door person's words: "Maria Lopez (General) was let
 * in twice: first at 06:01 at Main door by Sam Okafor, then offline on this
 * phone at 06:03." The two admits are told in the order they were made: the
 * phone's, offline, may well be the first. */
function offlineAlertText(result) {
  const ticket = result.ticket || {};
  const who = `${ticket.guest_name || "A guest"}${
    ticket.ticket_type ? ` (${ticket.ticket_type})` : ""
  }`;
  const ours = result.at ? localTime(result.at) : "";
  const here = `offline on this phone${ours ? ` at ${ours}` : ""}`;
  if (result.code !== "offline_conflict") {
    return `${who}, let in ${here}: ${result.message || "not admitted by the server."}`;
  }
  const other = [];
  const when = result.used_at_local || (result.used_at ? localTime(result.used_at) : "");
  if (when) other.push(`at ${when}`);
  const door = namedDoor(result.used_device);
  if (door) other.push(`at ${door}`);
  if (result.used_by) other.push(`by ${result.used_by}`);
  const there = other.join(" ") || "at another door";
  const oursFirst = Date.parse(result.at) < Date.parse(result.used_at);
  return oursFirst
    ? `${who} was let in twice: first ${here}, then ${there}.`
    : `${who} was let in twice: first ${there}, then ${here}.`;
}

function networkNote(text, ms = NOTE_MS) {
  const box = $("[data-network]");
  box.dataset.note = text;
  renderNetwork();
  clearTimeout(state.noteTimer);
  state.noteTimer = setTimeout(() => {
    delete box.dataset.note;
    renderNetwork();
  }, ms);
}

// What the bar says when the server no longer takes this phone's scans, and
// where to go: door mode hides the header's live indicator, and the feed
// closed for good says nothing by itself until the next guest's scan.
const ACCESS_LOST = {
  "signed-out": {
    text: "Signed out — sign in again to keep scanning.",
    action: "Sign in again",
    href: () => cfg.loginUrl,
  },
  "no-access": {
    text: "You're no longer on this event's door — ask the owner.",
    action: "Your events",
    href: () => $(".door-back").href,
  },
};

function renderNetwork() {
  const box = $("[data-network]");
  const note = box.dataset.note;
  // Offline says more: scanning goes on, on the phone, whoever is signed in.
  const lost = state.online && ACCESS_LOST[state.access];
  box.dataset.state = lost ? state.access : state.online ? "online" : "offline";
  $("[data-network-text]").textContent = lost
    ? lost.text
    : state.online
      ? ["Online", note].filter(Boolean).join(" · ")
      : "OFFLINE — still scanning: tickets are checked on this phone and uploaded when the network is back.";
  const action = $("[data-network-action]");
  action.hidden = !lost;
  if (lost) {
    action.textContent = lost.action;
    action.href = lost.href();
  }
}

/** The server's answer to this phone's requests: "signed-out" (401, or a
 * CSRF refusal: the sign-in changed), "no-access" (403: taken off this
 * event's door), or null (it answered them). Said in the bar at once. */
function setAccess(response, body = null) {
  let access = null;
  if (response.status === 401) access = "signed-out";
  else if (response.status === 403) {
    access = /^CSRF/.test(body?.message || "") ? "signed-out" : "no-access";
  } else if (!response.ok) return; // not about who is asking
  if (access === state.access) return;
  state.access = access;
  renderNetwork();
}

function setOnline(online) {
  const changed = online !== state.online;
  state.online = online;
  renderNetwork();
  renderAsOf();
  clearInterval(state.probeTimer);
  state.probeTimer = null;
  if (!online) {
    state.probeTimer = setInterval(probe, PROBE_EVERY_MS);
  } else if (changed) {
    state.uploadRefused.clear(); // back online: worth one more try
    uploadPending().then(() => {
      refreshStates();
      refreshSnapshot();
    });
  }
}

async function probe() {
  if (navigator.onLine === false) return;
  try {
    const { response } = await fetchJson(cfg.healthUrl);
    if (response.ok) setOnline(true);
  } catch {
    /* still offline */
  }
}

// --- Counters, last scans and the local copy of ticket states ---------------

function setText(selector, value) {
  for (const el of $$(selector)) el.textContent = value;
}

function renderSnapshot(snapshot) {
  if (snapshot.event) renderEvent(snapshot.event);
  scheduleGuestRefresh();
  const { totals } = snapshot;
  setText("[data-total-checked-in]", totals.checked_in);
  // "Sold" is paid for, free tickets beside it, as in the console; the
  // header's total is every ticket that may come in.
  setText("[data-total-sold]", totals.sold);
  setText("[data-total-free]", totals.free ?? 0);
  $("[data-total-free-part]").hidden = !totals.free;
  setText("[data-total-tickets]", totals.tickets ?? totals.sold);
  setText("[data-total-capacity]", totals.capacity);
  const body = $("[data-type-counters]");
  for (const type of snapshot.types) {
    let row = body.querySelector(`[data-type="${type.id}"]`);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.type = type.id;
      row.innerHTML =
        "<td></td><td data-checked-in></td>" +
        "<td><span data-sold></span><span data-free-part> + <span data-free></span> free</span></td><td></td>";
      body.append(row);
    }
    row.cells[0].textContent = type.name;
    row.cells[1].textContent = type.checked_in;
    row.querySelector("[data-sold]").textContent = type.sold;
    row.querySelector("[data-free]").textContent = type.free ?? 0;
    row.querySelector("[data-free-part]").hidden = !type.free;
    row.cells[3].textContent = type.capacity;
  }
  const list = $("[data-recent]");
  list.replaceChildren(...snapshot.recent.map(recentItem));
  for (const scan of snapshot.recent) state.applied.add(scan.id);
}

/** The event as the server has it now: cancelled or not, and an edit made
 * while this page is open (its name, start, time zone and so when check-in
 * opens, which offline admits are held to). */
function renderEvent(event) {
  $("[data-cancelled-banner]").hidden = !event.cancelled;
  if (event.name && event.name !== cfg.eventName) {
    cfg.eventName = event.name;
    $("[data-event-title]").textContent = event.name;
    document.title = `Door · ${event.name}`;
  }
  if (event.when) $("[data-event-when]").textContent = event.when;
  if (event.time_zone && event.time_zone !== cfg.timeZone) {
    cfg.timeZone = event.time_zone;
    useTimeZone(event.time_zone);
  }
  if (event.checkin_opens_at) cfg.opensAt = event.checkin_opens_at;
}

function eventCancelled() {
  return !$("[data-cancelled-banner]").hidden;
}

// A scan with no guest to name is labelled by what it was.
const NAMELESS = {
  wrong_event: "Other event",
  invalid: "Not a valid ticket",
  already_used: "Ticket already used",
  void: "Void ticket",
  not_yet_valid: "Not valid yet",
  offline_conflict: "Let in twice",
};
// How the server logs a code typed by hand that names no ticket
// (core.services.checkin._typed_miss): `invalid`, but amber here as on the
// verdict screen (typedVerdict), since it is most likely a typo.
const TYPED_MISS = /^No ticket with code /;

function isTypedMiss(scan) {
  return scan.code === "invalid" && TYPED_MISS.test(scan.message || "");
}

/** Text compared loosely: "Not a valid ticket." says what "Not a valid ticket" does. */
function bare(text) {
  return String(text || "").replace(/[.\s]+$/, "").toLowerCase();
}

/** What "Last scans" says under the guest: the message, unless it only
 * repeats the line above ("Admit Maria Lopez · General" under "Maria Lopez ·
 * General"), then the door and whether it was offline. */
function recentReason(scan, what) {
  let reason = String(scan.message || "").trim();
  if (scan.code === "ok" && /^Admit /.test(reason)) reason = "Admitted";
  if (scan.code === "undone") {
    // "Admit undone for Ana: wrong person": the tag and the name say the rest.
    const why = reason.indexOf(": ");
    reason = why >= 0 ? `Reason: ${reason.slice(why + 2)}` : "";
  }
  if (bare(reason) === bare(what)) reason = "";
  const text = [reason, scan.device].filter(Boolean).join(" — ");
  return `${text}${scan.offline ? `${text ? " " : ""}(offline)` : ""}`;
}

function recentItem(scan) {
  const li = document.createElement("li");
  li.dataset.scan = scan.id;
  li.dataset.scanVerdict = isTypedMiss(scan) ? "attention" : shownVerdict(scan);
  const time = document.createElement("time");
  time.dateTime = scan.at;
  time.textContent = localTime(scan.at);
  const what = document.createElement("span");
  what.className = "door-recent-what";
  what.textContent =
    [scan.guest_name, scan.ticket_type].filter(Boolean).join(" · ") ||
    (isTypedMiss(scan) ? scan.message.trim().replace(/\.$/, "") : "") ||
    // A phone offline that could not tell (not on its list, no Ed25519):
    // not "Not a valid ticket", which it never said.
    (scan.code === "invalid" && scan.verdict === "attention" && scan.offline
      ? "Checked offline"
      : "") ||
    NAMELESS[scan.code] ||
    "Scanned code";
  const label = what.textContent;
  if (li.dataset.scanVerdict === "undone") {
    const tag = document.createElement("span");
    tag.className = "door-recent-tag";
    tag.textContent = WORDS.undone;
    what.prepend(tag, " ");
  }
  const why = document.createElement("span");
  why.className = "door-recent-why";
  why.textContent = recentReason(scan, label);
  li.append(time, what, why);
  return li;
}

/** "+N more refused": the refusals a flood push left out (realtime.py folds
 * them), so the list never pretends it shows every scan. */
function omittedItem(count) {
  const li = document.createElement("li");
  li.dataset.scanVerdict = "reject";
  li.dataset.scanOmitted = String(count);
  const time = document.createElement("time");
  const now = new Date();
  time.dateTime = now.toISOString();
  time.textContent = localTime(now.toISOString());
  const what = document.createElement("span");
  what.className = "door-recent-what";
  what.textContent = `+${count} more refused ${count === 1 ? "scan" : "scans"}`;
  const why = document.createElement("span");
  why.className = "door-recent-why";
  why.textContent = "Too many at once to list here; all are in the scan log.";
  li.append(time, what, why);
  return li;
}

function applyScanBatch(message) {
  // The omitted refusals are older than the scans sent with them: list them first.
  if (message.omitted > 0) {
    const list = $("[data-recent]");
    list.prepend(omittedItem(message.omitted));
    while (list.children.length > RECENT_MAX) list.lastElementChild.remove();
  }
  (message.scans || []).forEach(applyScan);
}

function bump(selector, scope, delta) {
  for (const el of scope.querySelectorAll(selector)) {
    const value = Number.parseInt(el.textContent, 10);
    if (!Number.isNaN(value)) el.textContent = Math.max(0, value + delta);
  }
}

/** Apply one scan (ours, a push from another door, an upload result) once. */
function applyScan(scan) {
  if (scan.id == null || state.applied.has(scan.id)) return;
  state.applied.add(scan.id);
  const delta = scan.code === "ok" ? 1 : scan.code === "undone" ? -1 : 0;
  if (delta) {
    bump("[data-total-checked-in]", root, delta);
    const row = $(`[data-type="${scan.ticket_type_id}"]`);
    if (row) bump("[data-checked-in]", row, delta);
  }
  const list = $("[data-recent]");
  list.prepend(recentItem(scan));
  while (list.children.length > RECENT_MAX) list.lastElementChild.remove();
  if (scan.code === "undone") forgetUndo(scan.ticket_code);
  if (scan.ticket_code && delta) {
    noteChangedHere(scan.ticket_code);
    patchTicket(EVENT, scan.ticket_code, {
      status: delta > 0 ? "used" : "issued",
      used_at: delta > 0 ? scan.at : null,
      used_device: delta > 0 ? scan.device : "",
      used_by: delta > 0 ? scan.staff || "" : "",
    }).catch(() => {});
  }
}

// Sales and refunds during the night push counter changes; one refetch per
// couple of seconds is plenty.
function scheduleSnapshot() {
  if (state.snapshotTimer) return;
  state.snapshotTimer = setTimeout(() => {
    state.snapshotTimer = null;
    refreshSnapshot();
  }, 2000);
}

async function refreshSnapshot() {
  if (!state.online) return;
  try {
    const { response, body } = await fetchJson(cfg.snapshotUrl);
    if (isNetworkFailure(null, response)) return setOnline(false);
    setAccess(response, body);
    if (response.ok && body) {
      renderSnapshot(body);
      state.figuresAt = body.server_time;
      renderAsOf();
      keepSnapshot(EVENT, body).catch(() => {});
    }
  } catch {
    setOnline(false);
  }
}

async function refreshStates({ full = false } = {}) {
  if (!state.online) return;
  const meta = await lastStatesMeta(EVENT).catch(() => null);
  const wantFull =
    full || !meta?.full || Date.now() - state.lastFullStates > FULL_STATES_EVERY_MS;
  let url = cfg.ticketsUrl;
  if (!wantFull) {
    // A little overlap so a change committed while we read is not missed.
    const since = new Date(Date.parse(meta.generatedAt) - 5000).toISOString();
    url += `?since=${encodeURIComponent(since)}`;
  }
  // A list the server read just before an admit, undo or upload of this
  // phone committed, and saved just after it, would undo it here: rows
  // changed since it was asked for are kept as they are.
  const asked = state.changes;
  try {
    const { response, body } = await fetchJson(url);
    if (!response.ok || !body) return;
    const newer = [...state.changedHere].filter(([, change]) => change > asked);
    // Admits still waiting to upload stay "used" here too (saveTicketStates).
    await saveTicketStates(EVENT, body, {
      full: wantFull,
      keep: newer.map(([code]) => code),
    });
    for (const [code, change] of state.changedHere) {
      if (change <= asked) state.changedHere.delete(code); // in this list
    }
    if (wantFull) state.lastFullStates = Date.now();
    root.dataset.statesReady = "true";
  } catch {
    /* next round */
  }
}

// --- Camera -------------------------------------------------------------------

// Why the camera is off, in words door staff can act on. qr-scanner reports
// every failure to open the camera as "Camera not found.", so the reason is
// found out here (whyCameraFailed).
const CAMERA_TROUBLE = {
  insecure:
    "The camera needs a secure page: open this site's https:// address. Until then, type codes below.",
  unsupported:
    "This browser cannot use the camera. Open this page in Chrome or Safari, or type codes below.",
  denied:
    "Camera access is blocked. Allow the camera for this site in your browser settings, then tap Start scanning.",
  dismissed:
    "The camera was not allowed. Tap Start scanning and choose Allow, or type codes below.",
  missing: "No camera found on this device. Type codes below instead.",
  busy: "The camera is in use by another app. Close that app, then tap Start scanning.",
  unloaded:
    "The scanner did not load (no network?). Type codes below, or reload the page when online.",
  failed:
    "The camera would not start. Tap Start scanning to try again, or type codes below.",
};

// getUserMedia's errors (and older browsers' names for them) by what to do.
const CAMERA_ERRORS = {
  NotAllowedError: "denied",
  PermissionDeniedError: "denied",
  SecurityError: "denied",
  NotFoundError: "missing",
  DevicesNotFoundError: "missing",
  OverconstrainedError: "missing",
  ConstraintNotSatisfiedError: "missing",
  NotReadableError: "busy",
  TrackStartError: "busy",
  AbortError: "busy",
};

/** The camera permission: "granted", "denied", "prompt", or null where the
 * browser will not say (Firefox, older Safari). */
async function cameraPermission() {
  try {
    return (await navigator.permissions.query({ name: "camera" })).state;
  } catch {
    return null;
  }
}

/** Whether the device has a camera at all (listed even before permission),
 * or null if the browser will not say. */
async function hasCamera() {
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.some((device) => device.kind === "videoinput");
  } catch {
    return null;
  }
}

function cameraErrorTrouble(error, permission) {
  const trouble = CAMERA_ERRORS[error?.name] || "failed";
  // Chrome answers a prompt closed without choosing as a refusal, but the
  // camera is not blocked: asking again brings the prompt back.
  return trouble === "denied" && permission === "prompt" ? "dismissed" : trouble;
}

/** Why qr-scanner could not open the camera (what it threw says nothing).
 * Nothing is open by now: at most one camera is asked for here, and only
 * when the permission does not already tell, so staff who refused are not
 * asked again. */
async function whyCameraFailed() {
  const permission = await cameraPermission();
  if (permission === "denied") return "denied";
  if (permission === "prompt") return (await hasCamera()) === false ? "missing" : "dismissed";
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    for (const track of stream.getTracks()) track.stop();
    return "failed"; // it opens now: worth another tap
  } catch (probe) {
    return cameraErrorTrouble(probe, await cameraPermission());
  }
}

/** Say why the camera is off, under Start scanning (which stays, to retry). */
function showCameraTrouble(trouble) {
  const note = $("[data-camera-note]");
  note.textContent = CAMERA_TROUBLE[trouble];
  note.dataset.trouble = trouble;
  note.hidden = false;
  $("[data-start-panel]").hidden = false;
}

async function startCamera() {
  initAudio();
  saveDoorName();
  if (state.scanner) {
    // Already scanning: the panel was open to rename the door.
    $("[data-start-panel]").hidden = true;
    return;
  }
  if (state.cameraStarting) return; // one camera, however often it is tapped
  state.cameraStarting = true;
  const note = $("[data-camera-note]");
  note.hidden = true;
  delete note.dataset.trouble;
  try {
    const trouble = await cameraTroubleBeforeStart();
    if (trouble) {
      showCameraTrouble(trouble);
      return;
    }
    let QrScanner;
    try {
      ({ default: QrScanner } = await import(cfg.qrScannerUrl));
    } catch {
      showCameraTrouble("unloaded");
      return;
    }
    const scanner = new QrScanner($("[data-video]"), (r) => onDecoded(r.data), {
      preferredCamera: "environment",
      maxScansPerSecond: 12,
      returnDetailedScanResult: true,
      highlightScanRegion: false,
      onDecodeError: () => {},
      // A bit more forgiving than the default two thirds: guests hold their
      // phones at all distances and angles.
      calculateScanRegion: (video) => {
        const size = Math.round(0.8 * Math.min(video.videoWidth, video.videoHeight));
        const scaled = Math.min(size, 560);
        return {
          x: Math.round((video.videoWidth - size) / 2),
          y: Math.round((video.videoHeight - size) / 2),
          width: size,
          height: size,
          downScaledWidth: scaled,
          downScaledHeight: scaled,
        };
      },
    });
    try {
      await scanner.start();
    } catch {
      scanner.destroy();
      // A stream it did open (the video would not play) is closed here, at
      // once: whyCameraFailed may ask for the camera.
      const video = $("[data-video]");
      for (const track of video.srcObject?.getTracks?.() || []) track.stop();
      video.srcObject = null;
      showCameraTrouble(await whyCameraFailed());
      return;
    }
    state.scanner = scanner;
    $("[data-start-panel]").hidden = true;
    $("[data-stop]").hidden = false;
    root.dataset.camera = "on";
    keepScreenAwake();
    try {
      $("[data-torch]").hidden = !(await scanner.hasFlash());
    } catch {
      $("[data-torch]").hidden = true;
    }
  } finally {
    state.cameraStarting = false;
  }
}

/** What keeps the camera off before it is even asked for, or null. */
async function cameraTroubleBeforeStart() {
  // http:// on any host but localhost: browsers do not offer the camera.
  if (!window.isSecureContext) return "insecure";
  if (!navigator.mediaDevices?.getUserMedia) return "unsupported";
  // Blocked already: asking would fail at once, and say nothing useful.
  if ((await cameraPermission()) === "denied") return "denied";
  return null;
}

function toggleCamera() {
  const button = $("[data-stop]");
  if (!state.scanner) return;
  if (root.dataset.camera === "on") {
    state.scanner.stop(); // the stream, and so the torch, goes off
    root.dataset.camera = "off";
    button.textContent = "Resume camera";
    if (!screenShouldStayOn()) letScreenSleep();
  } else {
    state.scanner.start().catch(() => cameraMessage("The camera would not restart."));
    root.dataset.camera = "on";
    button.textContent = "Pause camera";
    keepScreenAwake();
  }
  showTorch();
}

// --- The screen stays on while the door scans ---------------------------------

// A phone that dims and locks in a lull costs the next guest an unlock and a
// camera restart. While the camera is on, or once a keyboard-wedge scanner is
// in use, the page holds a screen wake lock (Chrome 84, Safari 16.4); browsers
// drop it when the page is hidden, so it is asked for again when shown.

function screenShouldStayOn() {
  return root.dataset.camera === "on" || state.wedgeInUse;
}

async function keepScreenAwake() {
  if (!navigator.wakeLock || state.wakeLock || document.visibilityState !== "visible") {
    return;
  }
  const asking = navigator.wakeLock.request("screen");
  state.wakeLock = asking;
  let sentinel;
  try {
    sentinel = await asking;
  } catch {
    // Refused (battery saver, a policy): the screen sleeps as the phone is set.
    if (state.wakeLock === asking) state.wakeLock = null;
    return;
  }
  if (state.wakeLock !== asking || !screenShouldStayOn()) {
    sentinel.release().catch(() => {}); // let go, or paused meanwhile
    if (state.wakeLock === asking) state.wakeLock = null;
    return;
  }
  state.wakeLock = sentinel;
  root.dataset.awake = "true";
  sentinel.addEventListener("release", () => {
    if (state.wakeLock !== sentinel) return;
    state.wakeLock = null;
    root.dataset.awake = "false";
  });
}

function letScreenSleep() {
  const held = state.wakeLock;
  state.wakeLock = null;
  root.dataset.awake = "false";
  if (held && typeof held.release === "function") held.release().catch(() => {});
}

async function toggleTorch() {
  if (!state.scanner) return;
  try {
    await state.scanner.toggleFlash();
  } catch {
    cameraMessage("The torch would not turn on.");
  }
  showTorch();
}

function showTorch() {
  const on = root.dataset.camera === "on" && state.scanner?.isFlashOn();
  $("[data-torch]").setAttribute("aria-pressed", String(Boolean(on)));
}

/** A short note under the video (torch or camera trouble). */
function cameraMessage(text) {
  const box = $("[data-camera-msg]");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(state.cameraMessageTimer);
  state.cameraMessageTimer = setTimeout(() => {
    box.hidden = true;
  }, 4000);
}

// --- The door's name ---------------------------------------------------------

/** This phone's door name, asked for once: until staff type one the field
 * says why it matters, and scanning goes on meanwhile with no door named. */
function loadDoorName() {
  const saved = withoutPayload(localStorage.getItem("door.device") || "").trim();
  // "Door" is what this page once saved for a door left unnamed.
  const named = Boolean(saved) && !UNNAMED_DOORS.has(saved.toLowerCase());
  $("[data-device-label]").value = named ? saved : "";
  root.dataset.doorNamed = String(named);
  showDoorName();
}

function saveDoorName() {
  const label = $("[data-device-label]");
  label.value = deviceLabel();
  const named = Boolean(label.value);
  if (named) localStorage.setItem("door.device", label.value);
  else localStorage.removeItem("door.device");
  root.dataset.doorNamed = String(named);
  showDoorName();
}

function showDoorName() {
  const name = deviceLabel();
  $("[data-door-name]").textContent = name || UNNAMED_DOOR_TEXT;
  $("[data-rename-door]").setAttribute(
    "aria-label",
    name ? `Door name: ${name}. Change it` : "This door has no name yet. Name it",
  );
}

/** Open the name field again, over the camera if it is on (it keeps scanning). */
function renameDoor() {
  $("[data-start]").textContent = state.scanner ? "Done" : "Start scanning";
  $("[data-start-panel]").hidden = false;
  const label = $("[data-device-label]");
  label.focus();
  label.select();
}

// --- Keyboard-wedge scanners (they type the code and press Enter) ------------

// Wedges type a character every few milliseconds; people are far slower.
const WEDGE_GAP_MS = 40;
// Text fields a wedge may type into when focus was left there: what it types
// is a scan, not a door name, a guest search or the reason for an undo.
const WEDGE_FIELDS = "[data-device-label], [data-guest-query], [data-undo-reason]";

function onKey(event) {
  const target = event.target;
  const field = target.closest?.(WEDGE_FIELDS) || null;
  if (
    (!field &&
      target.closest?.("input, textarea, select, [contenteditable], dialog[open]")) ||
    event.ctrlKey ||
    event.metaKey ||
    event.altKey
  ) {
    return;
  }
  const wedge = state.wedge;
  const now = performance.now();
  const gap = now - wedge.at;
  wedge.at = now;
  if (gap > 1000 || wedge.field !== field) {
    Object.assign(wedge, { field, buffer: "", before: [], runStart: 0 });
  }
  if (event.key === "Enter") {
    let text = wedge.buffer.length >= 6 ? wedge.buffer : "";
    if (field) text = wedgeInField(field, gap);
    Object.assign(wedge, { buffer: "", before: [], runStart: 0 });
    if (text) {
      event.preventDefault();
      // The undo dialog waits no longer: the scan's verdict is shown instead.
      field?.closest("dialog[open]")?.close();
      initAudio();
      state.wedgeInUse = true;
      keepScreenAwake();
      submit(text, "keyboard");
    }
  } else if (event.key.length === 1) {
    if (gap > WEDGE_GAP_MS || event.repeat) wedge.runStart = wedge.buffer.length;
    if (field) wedge.before.push(field.value);
    wedge.buffer += event.key;
  }
}

/** The code a wedge typed into `field`, or "" if a person typed there. The
 * field gets back the value it had before the code was typed. */
function wedgeInField(field, gap) {
  const { buffer, before, runStart } = state.wedge;
  const found = findSignedPayload(buffer);
  let start = found?.index;
  // Any code typed at wedge speed counts too (short codes, other versions).
  if (start == null && gap <= WEDGE_GAP_MS && buffer.length - runStart >= 6) {
    start = runStart;
  }
  if (start == null) return "";
  field.value = before[start];
  // Put back in code, which fires no "input": the door's bar follows by hand.
  if (field.matches("[data-device-label]")) {
    root.dataset.doorNamed = String(Boolean(deviceLabel()));
    showDoorName();
  }
  return found ? found.payload : buffer.slice(start);
}

// --- Guest list and undo ------------------------------------------------------

function guestStatus(guest) {
  if (guest.status === "used") {
    return `In at ${localTime(guest.used_at)}${guest.used_device ? `, ${guest.used_device}` : ""}`;
  }
  return guest.status === "void" ? "Refunded / void" : "Not in yet";
}

/** Search the guest list: what is typed, or `again` the search shown. */
async function searchGuests(event, { again = false } = {}) {
  event?.preventDefault();
  const query = again ? state.guestQuery : $("[data-guest-query]").value.trim();
  const list = keepingFocus($("[data-guest-results]"));
  if (!query || query.length < 2) {
    state.guestQuery = null;
    list.replaceChildren();
    return;
  }
  state.guestQuery = query;
  if (!state.online) {
    await searchOffline(query, list);
    return;
  }
  const url = `${cfg.guestsUrl}?q=${encodeURIComponent(query)}`;
  let response = null;
  let body = null;
  let failure = null;
  try {
    ({ response, body } = await fetchJson(url));
  } catch (error) {
    failure = error;
  }
  if (isNetworkFailure(failure, response)) {
    setOnline(false);
    await searchOffline(query, list);
    return;
  }
  try {
    if (!response.ok || !body) throw new Error(body?.message || "search failed");
    if (!body.guests.length) {
      const li = document.createElement("li");
      li.textContent = "Nobody found.";
      list.replaceChildren(li);
      return;
    }
    list.replaceChildren(...body.guests.map((guest) => guestItem(guest)));
  } catch (error) {
    const li = document.createElement("li");
    li.textContent = `Search failed: ${error.message}`;
    list.replaceChildren(li);
  }
}

/** The search shown, read again soon: the door heard something changed (a
 * scan at any door, a sale, a refund, a free ticket cancelled), and a guest
 * shown "Not in yet" with Admit may be in, or void, by now. */
function scheduleGuestRefresh() {
  if (!state.guestQuery || state.guestTimer) return;
  state.guestTimer = setTimeout(() => {
    state.guestTimer = null;
    if (state.guestQuery) searchGuests(null, { again: true });
  }, GUEST_REFRESH_MS);
}

/** `list`, whose replaceChildren keeps the focus on the same guest's button
 * (or the list) when it had it: results read again must not lose a
 * keyboard user's place. */
function keepingFocus(list) {
  return {
    replaceChildren(...items) {
      const focused = list.contains(document.activeElement) ? document.activeElement : null;
      const guest = focused?.closest("[data-guest]")?.dataset.guest;
      const label = focused?.textContent;
      list.replaceChildren(...items);
      if (!focused) return;
      const again = [...list.querySelectorAll("[data-guest]")].find((li) => li.dataset.guest === guest);
      const button = [...(again?.querySelectorAll("button") || [])].find((b) => b.textContent === label);
      (button || again?.querySelector("button"))?.focus({ preventScroll: true });
    },
  };
}

// Accents and case do not matter: "garcia" finds "García". The server's
// search folds names the same way (core/folding.py).
function fold(text) {
  return String(text || "")
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .join(" ");
}

/** Search this phone's copy of the ticket states (it holds no emails). */
async function searchOffline(query, list) {
  const note = document.createElement("li");
  note.dataset.guestNote = "";
  let matches = [];
  try {
    const wanted = fold(query);
    const code = typedCode(query);
    const tickets = await eventTickets(EVENT);
    matches = tickets
      .filter((t) => t.code === code || (wanted && fold(t.guest_name).includes(wanted)))
      .sort(
        (a, b) =>
          (a.guest_name || "").localeCompare(b.guest_name || "") ||
          a.code.localeCompare(b.code),
      )
      .slice(0, GUEST_RESULTS);
    note.textContent = tickets.length
      ? "Offline: searching this phone's list by name or ticket code only (no emails)."
      : "Offline, and this phone has no ticket list yet.";
    if (tickets.length && !matches.length) note.textContent += " Nobody found.";
  } catch {
    note.textContent = "Offline, and this phone's ticket list could not be read.";
  }
  list.replaceChildren(note, ...matches.map((t) => guestItem(t, { offline: true })));
}

function guestItem(guest, { offline = false } = {}) {
  const li = document.createElement("li");
  li.dataset.guest = guest.code;
  li.dataset.status = guest.status;
  const who = document.createElement("span");
  who.className = "door-guest-who";
  who.textContent = `${guest.guest_name || "(no name)"} · ${guest.ticket_type}`;
  const email = document.createElement("span");
  email.className = "door-guest-email";
  email.textContent = [guest.guest_email, guest.code].filter(Boolean).join(" · ");
  const status = document.createElement("span");
  status.className = "door-guest-status";
  status.textContent = guestStatus(guest);
  li.append(who, email, status);
  if (guest.status === "issued") {
    const admit = document.createElement("button");
    admit.type = "button";
    admit.className = "button button-primary";
    admit.textContent = "Admit";
    admit.addEventListener("click", async () => {
      initAudio();
      admit.disabled = true; // one admit per tap, however nervous
      try {
        await submit(guest.code, "guest_list");
      } finally {
        admit.disabled = false;
      }
      searchGuests();
    });
    li.append(admit);
  } else if (guest.status === "used" && !offline) {
    // Undo needs the server; offline the status says who let them in.
    const undo = document.createElement("button");
    undo.type = "button";
    undo.className = "button button-secondary";
    undo.textContent = "Undo admit";
    undo.addEventListener("click", () => openUndo(guest));
    li.append(undo);
  }
  return li;
}

function openUndo(ticket) {
  const dialog = $("[data-undo-dialog]");
  dialog.dataset.ticket = ticket.code;
  $("[data-undo-who]").textContent = `${ticket.guest_name || "Guest"} · ${ticket.ticket_type || ""}`;
  $("[data-undo-reason]").value = "";
  $("[data-undo-reason]").removeAttribute("aria-invalid");
  $("[data-undo-error]").hidden = true;
  hideVerdict();
  dialog.showModal();
}

async function confirmUndo(event) {
  const dialog = $("[data-undo-dialog]");
  if (event.submitter?.value !== "undo") return;
  event.preventDefault();
  const field = $("[data-undo-reason]");
  const reason = field.value.trim();
  const error = $("[data-undo-error]");
  if (!reason) {
    error.textContent = "Say why the admit is undone.";
    error.hidden = false;
    field.setAttribute("aria-invalid", "true");
    field.focus();
    return;
  }
  field.removeAttribute("aria-invalid");
  try {
    const { response, body } = await fetchJson(cfg.undoUrl, {
      method: "POST",
      body: JSON.stringify({
        event: EVENT,
        ticket: dialog.dataset.ticket,
        reason,
        device: deviceLabel(),
      }),
    });
    if (!response.ok || !body) throw new Error(body?.message || "Undo failed.");
    dialog.close();
    applyScan(scanFromResult(body));
    showVerdict(body);
    searchGuests();
  } catch (failure) {
    error.textContent = state.online
      ? failure.message
      : "Undo needs the network. Try again when online.";
    error.hidden = false;
  }
}

// --- Wiring -------------------------------------------------------------------

function wire() {
  loadDoorName();
  const label = $("[data-device-label]");
  label.addEventListener("change", saveDoorName);
  // The bar and the hint follow the typing, so nothing moves when the field
  // loses focus: a tap on Start right after typing would miss the button.
  label.addEventListener("input", () => {
    root.dataset.doorNamed = String(Boolean(deviceLabel()));
    showDoorName();
  });
  label.addEventListener("keydown", (event) => {
    // A wedge's Enter here was a scan (onKey took it); a person's is "done".
    if (event.key !== "Enter" || event.defaultPrevented) return;
    event.preventDefault();
    label.blur();
    saveDoorName();
    if (state.scanner) $("[data-start-panel]").hidden = true;
  });
  $("[data-rename-door]").addEventListener("click", renameDoor);
  $("[data-start]").addEventListener("click", startCamera);
  $("[data-stop]").addEventListener("click", toggleCamera);
  $("[data-torch]").addEventListener("click", toggleTorch);
  $("[data-manual]").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("[data-manual-input]");
    const typed = input.value.trim();
    // The box keeps the code until its answer says whether it needs fixing.
    input.blur(); // the phone's keyboard goes down: the verdict shows whole
    initAudio();
    if (!typed) return;
    // Check is off until the answer comes, or until another code is typed
    // (which then waits its turn): a second tap of the same code sends
    // nothing, and Enter on a new one is not swallowed by a disabled button.
    const check = $("[data-manual] [type=submit]");
    check.disabled = true;
    submit(typedToSend(typed), "manual", { typed }).finally(() => {
      check.disabled = false;
    });
  });
  $("[data-manual-input]").addEventListener("input", () => {
    $("[data-manual] [type=submit]").disabled = false;
  });
  $("[data-verdict]").addEventListener("click", (event) => {
    if (event.target.closest("[data-verdict-signin]")) {
      return; // the link leaves: for the sign-in page, or the event list
    } else if (event.target.closest("[data-verdict-undo]")) {
      const ticket = state.verdict?.result?.ticket;
      if (ticket) openUndo(ticket);
    } else if (event.target.closest("[data-verdict-admit-anyway]")) {
      const admit = state.verdict?.result?.admitAnyway;
      hideVerdict();
      if (admit) admit();
    } else {
      hideVerdict();
    }
  });
  $("[data-verdict]").addEventListener("keydown", onVerdictKey);
  $("[data-offline-alert-close]").addEventListener("click", hideOfflineAlert);
  $("[data-undo-last]").addEventListener("click", () => {
    if (state.undoLast) openUndo(state.undoLast);
  });
  $("[data-guest-search]").addEventListener("submit", searchGuests);
  $("[data-undo-form]").addEventListener("submit", confirmUndo);
  $("[data-undo-reason]").addEventListener("keydown", (event) => {
    // A person's Enter after the reason means "undo", not the form's first
    // button, "Keep admit" (a wedge's Enter was a scan: onKey took it).
    if (event.key !== "Enter" || event.defaultPrevented) return;
    event.preventDefault();
    $("[data-undo-form]").requestSubmit($("[data-undo-confirm]"));
  });
  // Capture: a wedge's Enter must not submit the guest search first.
  document.addEventListener("keydown", onKey, true);

  // Live feed (static/js/live.js) and its reconnects.
  document.addEventListener("door:message", (event) => {
    const message = event.detail || {};
    scheduleGuestRefresh();
    if (message.type === "door.scans") applyScanBatch(message);
    // The event itself changed (cancelled, renamed, moved): said at once.
    else if (message.type === "door.counters" && message.change) refreshSnapshot();
    else if (message.type === "door.counters") scheduleSnapshot();
  });
  document.addEventListener("live:resync", () => refreshSnapshot());
  // The feed closed for good (signed out, taken off this door): the
  // snapshot's answer says which, in the bar, at once.
  document.addEventListener("live:status", (event) => {
    if (event.detail?.state === "offline") refreshSnapshot();
  });

  window.addEventListener("resize", fitVerdict); // a phone turned round
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && screenShouldStayOn()) keepScreenAwake();
  });
  window.addEventListener("offline", () => setOnline(false));
  window.addEventListener("online", probe);
  setInterval(refreshSnapshot, SNAPSHOT_EVERY_MS);
  setInterval(() => refreshStates(), STATES_EVERY_MS);
  setInterval(() => state.online && uploadPending(), PROBE_EVERY_MS * 2);

  // Reopened with no network, the door must come back: `data-page-kept`
  // says this page is kept.
  if ("serviceWorker" in navigator && window.isSecureContext) {
    keepPageOffline({ swUrl: cfg.swUrl, scope: cfg.swScope })
      .then((kept) => {
        if (kept) root.dataset.pageKept = "true";
      })
      .catch(() => {});
  }
}

/** Offline, the counters and last scans are an old copy: said so, with
 * when they were the server's ("Offline — figures as of 21:04"). */
function renderAsOf() {
  const when = state.figuresAt ? localTime(state.figuresAt) : "";
  const text = when ? `Offline — figures as of ${when}` : "Offline — figures from before";
  for (const note of $$("[data-as-of]")) {
    note.hidden = state.online;
    const empty = note.matches("[data-as-of-recent]") && !$("[data-recent]").children.length;
    note.textContent = empty ? "Offline — the last scans show once the network is back." : `${text}.`;
  }
}

/** A page opened with no network shows the last snapshot this phone kept,
 * if newer than the page's own copy. */
async function showKeptSnapshot() {
  const kept = await keptSnapshot(EVENT).catch(() => null);
  if (!kept) return;
  const keptAt = Date.parse(kept.server_time);
  if (state.figuresAt && !(keptAt > Date.parse(state.figuresAt))) return;
  renderSnapshot(kept);
  state.figuresAt = kept.server_time;
}

async function init() {
  wire();
  if (!state.online) await showKeptSnapshot();
  setOnline(state.online);
  await showPending().catch(() => {});
  if (state.online) {
    // Upload first: the full list then already has this phone's admits.
    await Promise.all([
      refreshSnapshot(),
      uploadPending().then(() => refreshStates({ full: true })),
    ]);
  }
  root.dataset.ready = "true";
}

init();
