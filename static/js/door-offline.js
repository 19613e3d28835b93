// The door's offline half: verify ticket signatures on the phone and keep
// ticket states, offline admits and the refusals made here in IndexedDB until
// they can be uploaded.

const SIGNED_RE = /^T1\.([0-9A-F]{8})\.([A-Z0-9]{6,16})\.([A-Z2-7]{103})$/;
const SHORT_RE = /^[A-Z0-9]{6,16}$/;
const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Read a scanned text: a signed payload, a hand-typed short code, or nothing. */
export function parseCode(text) {
  const cleaned = String(text || "").trim().toUpperCase();
  if (cleaned.length > 160) return null;
  const signed = SIGNED_RE.exec(cleaned);
  if (signed) {
    return {
      kind: "signed",
      eventKey: signed[1],
      code: signed[2],
      message: `T1.${signed[1]}.${signed[2]}`,
      signature: signed[3],
    };
  }
  if (SHORT_RE.test(cleaned)) return { kind: "short", code: cleaned };
  return null;
}

// A signed payload inside other text, and where one starts (version and
// event key): what a keyboard-wedge scanner types into a focused text field.
const SIGNED_IN_TEXT_RE = /T1\.[0-9A-F]{8}\.[A-Z0-9]{6,16}\.[A-Z2-7]{103}/i;
const SIGNED_START_RE = /T1\.[0-9A-F]{8}\./i;

/** The first signed payload in `text` and its index, or null. */
export function findSignedPayload(text) {
  const match = SIGNED_IN_TEXT_RE.exec(String(text || ""));
  return match ? { payload: match[0], index: match.index } : null;
}

/** `text` cut where a signed payload starts: a ticket is never a door's name. */
export function withoutPayload(text) {
  const value = String(text || "");
  const index = value.search(SIGNED_START_RE);
  return index < 0 ? value : value.slice(0, index);
}

function base32Decode(text) {
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text) {
    const index = B32.indexOf(ch);
    if (index < 0) throw new Error("not base32");
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  // Spare bits must be zero, as the server requires (no two texts per code).
  if (bits && (value & ((1 << bits) - 1))) throw new Error("non-canonical");
  return new Uint8Array(out);
}

let keyPromise = null;

/** Whether this browser can verify Ed25519 signatures (needed offline). */
export async function canVerify(publicKeyB64) {
  try {
    await importKey(publicKeyB64);
    return true;
  } catch {
    return false;
  }
}

function importKey(publicKeyB64) {
  if (!keyPromise) {
    const raw = Uint8Array.from(atob(publicKeyB64), (c) => c.charCodeAt(0));
    keyPromise = crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, [
      "verify",
    ]);
    keyPromise.catch(() => {
      keyPromise = null;
    });
  }
  return keyPromise;
}

/** True when the signed payload was signed by the ticket key. */
export async function verifySignature(parsed, publicKeyB64) {
  let signature;
  try {
    signature = base32Decode(parsed.signature);
  } catch {
    return false;
  }
  if (signature.length !== 64) return false;
  const key = await importKey(publicKeyB64);
  return crypto.subtle.verify(
    { name: "Ed25519" },
    key,
    signature,
    new TextEncoder().encode(parsed.message),
  );
}

// --- IndexedDB ------------------------------------------------------------

const DB_NAME = "nightpass-door";
const DB_VERSION = 1;
let dbPromise = null;

function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("tickets", { keyPath: ["event", "code"] });
        const pending = db.createObjectStore("pending", { keyPath: "nonce" });
        pending.createIndex("event", "event");
        db.createObjectStore("meta", { keyPath: "key" });
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another page deleting the door's data (signing out) goes first.
        db.onversionchange = () => {
          db.close();
          dbPromise = null;
        };
        resolve(db);
      };
      request.onerror = () => reject(request.error);
    });
  }
  return dbPromise;
}

/** Whether this phone keeps any door data; asks without creating it. */
export async function doorDatabaseExists() {
  if (!indexedDB.databases) return true; // cannot tell: assume so
  return (await indexedDB.databases()).some((db) => db.name === DB_NAME);
}

/** Offline admits waiting to upload on this phone, at any event's door. */
export async function countWaitingAdmits() {
  if (!(await doorDatabaseExists())) return 0;
  const db = await openDb();
  return result(db.transaction("pending").objectStore("pending").index("event").count());
}

/** Delete the door's ticket states, waiting scans and notes from this phone
 * (signing out). Resolves once deleted, or after `waitMs` if another page
 * holds the database open: the deletion then completes when it closes. */
export async function forgetDoorData({ waitMs = 3000 } = {}) {
  if (dbPromise) {
    const db = await dbPromise.catch(() => null);
    db?.close();
    dbPromise = null;
  }
  await new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(DB_NAME);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
    request.onblocked = () => setTimeout(resolve, waitMs);
  });
}

function done(transaction) {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

function result(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Store the server's ticket states; a full copy replaces the event's old one.
 * A ticket admitted here and not uploaded yet stays "used" whatever the copy
 * says (the server has not heard of that admit): the guest is in, and a second
 * scan must say so. If the server already has it used, its row says where.
 * The rows of `keep` (codes changed here since the copy was asked for) are
 * newer than the copy and stay as they are. */
export async function saveTicketStates(event, states, { full, keep = [] }) {
  const db = await openDb();
  const tx = db.transaction(["tickets", "meta", "pending"], "readwrite");
  const store = tx.objectStore("tickets");
  const newer = [];
  for (const code of keep) {
    const row = await result(store.get([event, code]));
    if (row) newer.push(row);
  }
  const waiting = await result(tx.objectStore("pending").index("event").getAll(event));
  const ours = new Map();
  for (const admit of waiting) {
    if (ours.has(admit.ticketCode)) continue;
    const row = await result(store.get([event, admit.ticketCode]));
    ours.set(admit.ticketCode, { admit, row });
  }
  if (full) {
    store.delete(IDBKeyRange.bound([event, ""], [event, "\uffff"]));
  }
  for (const state of states.tickets) {
    const mine = ours.get(state.code);
    if (mine && state.status !== "used") {
      mine.server = state; // written below, as used here
      continue;
    }
    ours.delete(state.code);
    store.put({ ...state, event });
  }
  for (const { admit, row, server } of ours.values()) {
    if (row?.status === "used") {
      store.put(row);
    } else if (row || server) {
      const used = {
        status: "used",
        used_at: admit.at,
        used_device: admit.device,
        used_by: "", // this phone's staff: its verdicts say "on this phone"
      };
      store.put({ ...(row || server), event, ...used });
    }
  }
  for (const row of newer) store.put(row);
  tx.objectStore("meta").put({
    key: `states:${event}`,
    generatedAt: states.generated_at,
    full: full ? states.generated_at : undefined,
  });
  await done(tx);
}

/** Keep the door's last snapshot (counters, last scans) for a page reopened
 * with no network; deleted with the rest of the door's data on sign-out. */
export async function keepSnapshot(event, snapshot) {
  const db = await openDb();
  const tx = db.transaction("meta", "readwrite");
  tx.objectStore("meta").put({ key: `snapshot:${event}`, snapshot });
  await done(tx);
}

/** The snapshot keepSnapshot kept for `event`, or null. */
export async function keptSnapshot(event) {
  const db = await openDb();
  const kept = await result(db.transaction("meta").objectStore("meta").get(`snapshot:${event}`));
  return kept?.snapshot || null;
}

export async function lastStatesMeta(event) {
  const db = await openDb();
  return result(db.transaction("meta").objectStore("meta").get(`states:${event}`));
}

export async function countTickets(event) {
  const db = await openDb();
  const range = IDBKeyRange.bound([event, ""], [event, "\uffff"]);
  return result(db.transaction("tickets").objectStore("tickets").count(range));
}

/** Every ticket state kept on this phone for `event`. */
export async function eventTickets(event) {
  const db = await openDb();
  const range = IDBKeyRange.bound([event, ""], [event, "\uffff"]);
  return result(db.transaction("tickets").objectStore("tickets").getAll(range));
}

export async function getTicket(event, code) {
  const db = await openDb();
  return result(db.transaction("tickets").objectStore("tickets").get([event, code]));
}

/** Change one local ticket state (after a scan here or a push from another door). */
export async function patchTicket(event, code, patch) {
  const db = await openDb();
  const tx = db.transaction("tickets", "readwrite");
  const store = tx.objectStore("tickets");
  const current = await result(store.get([event, code]));
  if (current) store.put({ ...current, ...patch });
  await done(tx);
  return Boolean(current);
}

/** Record an admit made offline, and mark the ticket used here at once:
 * one not on this phone's list (admitted anyway) gets a row of its own, so
 * the same code scanned again is "already used", not admitted anyway again. */
export async function recordOfflineAdmit(admit) {
  const db = await openDb();
  const tx = db.transaction(["pending", "tickets"], "readwrite");
  tx.objectStore("pending").put(admit);
  const tickets = tx.objectStore("tickets");
  const current = await result(tickets.get([admit.event, admit.ticketCode]));
  tickets.put({
    guest_name: "",
    ticket_type: "",
    ...current,
    event: admit.event,
    code: admit.ticketCode,
    status: "used",
    used_at: admit.at,
    used_device: admit.device, // the verdict already says it was offline
    used_by: "", // nor an earlier admit's (undone since), if the row had one
  });
  await done(tx);
}

/** Mark a ticket used on this phone, as the server's answer to an upload
 * says: the ticket's row is written even if this phone never had it (admitted
 * anyway), so a second scan offline says "Already used". */
export async function markTicketUsed(event, ticket, { usedAt, usedDevice, usedBy }) {
  const db = await openDb();
  const tx = db.transaction("tickets", "readwrite");
  const store = tx.objectStore("tickets");
  const current = await result(store.get([event, ticket.code]));
  store.put({
    ...current,
    // The server's names over the blanks of a row admitted anyway here.
    guest_name: ticket.guest_name || current?.guest_name || "",
    ticket_type: ticket.ticket_type || current?.ticket_type || "",
    ticket_type_id: ticket.ticket_type_id ?? current?.ticket_type_id,
    event,
    code: ticket.code,
    status: "used",
    used_at: usedAt,
    used_device: usedDevice || "",
    used_by: usedBy || "",
  });
  await done(tx);
}

export async function pendingAdmits(event) {
  const db = await openDb();
  const index = db.transaction("pending").objectStore("pending").index("event");
  return result(index.getAll(event));
}

export async function forgetPending(nonces) {
  const db = await openDb();
  const tx = db.transaction("pending", "readwrite");
  for (const nonce of nonces) tx.objectStore("pending").delete(nonce);
  await done(tx);
}

// --- Refusals made on the phone, waiting to be logged -------------------------

// The most refusals kept for upload, all events together: a phone left
// offline in front of a stuck bad code keeps the latest, not every one.
export const MAX_WAITING_REFUSALS = 500;

/** Keep a refusal this phone made on its own until it is uploaded, to be
 * logged. It waits in the admits' store, under `refusalOf` where an admit
 * has `event`: the store's "event" index (pendingAdmits, saveTicketStates)
 * never lists it, so nothing uploads it as an admit, not even an older copy
 * of this page. Past MAX_WAITING_REFUSALS the oldest are dropped. */
export async function recordOfflineRefusal(refusal) {
  const db = await openDb();
  const tx = db.transaction("pending", "readwrite");
  const store = tx.objectStore("pending");
  const all = await result(store.getAll());
  // An admit under this scan id is that attempt's answer: never replaced.
  if (all.some((entry) => entry.nonce === refusal.nonce && !entry.refusalOf)) return;
  const waiting = all.filter((entry) => entry.refusalOf && entry.nonce !== refusal.nonce);
  waiting.sort((a, b) => String(a.at).localeCompare(String(b.at)));
  const over = waiting.length + 1 - MAX_WAITING_REFUSALS;
  for (const old of waiting.slice(0, Math.max(0, over))) store.delete(old.nonce);
  store.put(refusal);
  await done(tx);
}

/** Everything waiting to upload on this phone, at every event's door:
 * { admits, refusals }, each entry with its event (`event`, `refusalOf`). */
export async function allWaiting() {
  const db = await openDb();
  const all = await result(db.transaction("pending").objectStore("pending").getAll());
  return {
    admits: all.filter((entry) => entry.event),
    refusals: all.filter((entry) => entry.refusalOf),
  };
}

/** The refusals this phone made at `event`'s door, waiting to upload. */
export async function pendingRefusals(event) {
  const db = await openDb();
  const all = await result(db.transaction("pending").objectStore("pending").getAll());
  return all.filter((entry) => entry.refusalOf === event);
}
