// Uploading what a door phone did offline: every event's admits and refusals
// waiting on it, from whichever door page is open and from the event list.
// Staff offline at one event who go back to the list and open another must
// not leave the first event's guests on the phone for good.
import { allWaiting, doorDatabaseExists, forgetPending, markTicketUsed } from "./door-offline.js";

// The most admits, and the most refusals, sent in one upload (the server
// takes 500 of each).
export const UPLOAD_BATCH = 200;

/** A failed fetch (no network, timeout) or a gateway error means "offline". */
export function isNetworkFailure(error, response) {
  if (error) return true;
  return Boolean(response) && [502, 503, 504].includes(response.status);
}

// Answers to an upload that sending it again cannot change (the request
// itself was refused): the admits stay on the phone, and are sent again only
// when something changes (network back, a scan the server accepted, a reload).
const RETRYABLE_UPLOAD_STATUSES = new Set([408, 425, 429]);

export function uploadRefusedForGood(response) {
  return (
    response.status >= 400 &&
    response.status < 500 &&
    !RETRYABLE_UPLOAD_STATUSES.has(response.status)
  );
}

/** What waits to upload, by event: Map event -> { admits, refusals, name }
 * (`name` as the admits were made under, "" if none says). Nothing is
 * created on a phone that never kept door data. */
export async function waitingByEvent() {
  const events = new Map();
  if (!(await doorDatabaseExists())) return events;
  const { admits, refusals } = await allWaiting();
  const of = (event) => {
    if (!events.has(event)) events.set(event, { admits: [], refusals: [], name: "" });
    return events.get(event);
  };
  for (const admit of admits) {
    const entry = of(admit.event);
    entry.admits.push(admit);
    entry.name ||= admit.eventName || "";
  }
  for (const refusal of refusals) of(refusal.refusalOf).refusals.push(refusal);
  return events;
}

/** How an upload's answer leaves the ticket on this phone: used (ours, or
 * another door's first), with when, where and by whom, or null. */
export function usedFromAnswer(result, admit) {
  if (result.code === "ok") return { usedAt: result.at, usedDevice: admit.device };
  if (result.code === "offline_conflict" || result.code === "already_used") {
    return { usedAt: result.used_at, usedDevice: result.used_device, usedBy: result.used_by };
  }
  return null;
}

/** Mark the ticket of an uploaded admit used on this phone, as its answer
 * says: a later list refresh may not bring it (a conflict leaves the ticket
 * as it was on the server). */
export async function keepAnswerHere(event, result, admit) {
  const ticket = { code: admit.ticketCode, ...result.ticket };
  const used = ticket.code && usedFromAnswer(result, admit);
  if (used) await markTicketUsed(event, ticket, used).catch(() => {});
  return Boolean(used);
}

/** Upload every event's waiting admits and refusals, `first`'s first: one
 * request per event and door name (each admit is logged at the door it was
 * made at), in batches. `post(payload)` sends one and resolves
 * { response, body }, or rejects when the network fails. Events in `skip`
 * (refused for good) are left waiting.
 *
 * After each answered batch the answered scans are forgotten here and
 * `onAnswered({ event, device, batch, refusals, answered, logged })` runs
 * (`answered`: [admit, result] pairs; `logged`: the refusals' answers). A
 * batch the server would not take calls `onRefused({ event, response, body,
 * admits, nothingDone })` and that event waits for a later try.
 *
 * Resolves "offline" when the network failed (the rest waits), else "done".
 */
export async function uploadWaiting({ post, first = null, skip = new Set(), onAnswered, onRefused }) {
  const events = [...(await waitingByEvent()).keys()].sort(
    (a, b) => Number(b === first) - Number(a === first),
  );
  for (const event of events) {
    if (skip.has(event)) continue;
    let waiting = (await waitingByEvent()).get(event);
    while (waiting && (waiting.admits.length || waiting.refusals.length)) {
      // One door per upload (the request names one): scans made before the
      // phone was renamed go under the name they were made at.
      const device = (waiting.admits[0] || waiting.refusals[0]).device || "";
      const atDoor = (scan) => (scan.device || "") === device;
      const batch = waiting.admits.filter(atDoor).slice(0, UPLOAD_BATCH);
      const refusals = waiting.refusals.filter(atDoor).slice(0, UPLOAD_BATCH);
      let response = null;
      let body = null;
      let failure = null;
      try {
        ({ response, body } = await post({
          event,
          device,
          admits: batch.map((a) => ({ code: a.code, nonce: a.nonce, at: a.at })),
          // Apart from the admits, and answered apart: the server only
          // logs these, and nothing here reads their answers as admits.
          refusals: refusals.map((r) => ({
            code: r.code,
            nonce: r.nonce,
            at: r.at,
            result: r.result,
          })),
        }));
      } catch (error) {
        failure = error;
      }
      if (isNetworkFailure(failure, response)) return "offline";
      if (!response.ok || !Array.isArray(body?.results)) {
        await onRefused?.({ event, response, body, admits: batch.length, nothingDone: false });
        break;
      }
      // Every admit the server answered is done with, whatever its verdict;
      // one it did not answer stays for the next upload.
      const byNonce = new Map(batch.map((a) => [a.nonce, a]));
      const answered = [];
      body.results.forEach((result, index) => {
        const admit = byNonce.get(result.nonce ?? batch[index]?.nonce);
        if (admit) answered.push([admit, result]);
      });
      // So is every refusal it answered, logged or not (it cannot be, ever).
      const sent = new Set(refusals.map((r) => r.nonce));
      const logged = (Array.isArray(body.refusals) ? body.refusals : []).filter((answer) =>
        sent.has(answer.nonce),
      );
      if (!answered.length && !logged.length) {
        // Nothing done: not again at once.
        await onRefused?.({ event, response, body, admits: batch.length, nothingDone: true });
        break;
      }
      await forgetPending([
        ...answered.map(([admit]) => admit.nonce),
        ...logged.map((answer) => answer.nonce),
      ]);
      await onAnswered?.({ event, device, batch, refusals, answered, logged });
      waiting = (await waitingByEvent()).get(event);
    }
  }
  return "done";
}

/** "Ana García (General): Let in twice: …", an upload answer in words. */
function answerText(result) {
  const ticket = result.ticket || {};
  const who = `${ticket.guest_name || "A guest"}${ticket.ticket_type ? ` (${ticket.ticket_type})` : ""}`;
  return `${who}: ${result.message || "not admitted by the server."}`;
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** The door's event list: says which events' offline admits wait on this
 * phone, and uploads them whenever there is network (on opening, when the
 * network comes back, and every few seconds while any wait). `box` shows
 * it; `names` maps event ids to the names the list shows. */
export function watchWaitingUploads({ box, offlineUrl, csrf, names = new Map(), everyMs = 10000 }) {
  const refused = new Map(); // event -> why the server will not take them
  const done = []; // what the last uploads did, said until nothing waits
  let uploading = false;
  const nameOf = (event, waiting) => names.get(event) || waiting?.name || "another event";

  async function render() {
    const events = await waitingByEvent().catch(() => new Map());
    const lines = [...done];
    for (const [event, waiting] of events) {
      if (!waiting.admits.length) continue;
      const why = refused.get(event);
      lines.push(
        `${plural(waiting.admits.length, "offline admit")} ${why ? "not uploaded" : "waiting to upload"}` +
          ` for ${nameOf(event, waiting)}${why ? `: ${why}` : ""}.`,
      );
    }
    const items = lines.map((line) => {
      const li = document.createElement("li");
      li.textContent = line;
      return li;
    });
    box.querySelector("[data-waiting-list]").replaceChildren(...items);
    box.hidden = !items.length;
    return events;
  }

  async function post(payload) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 10000);
    try {
      const response = await fetch(offlineUrl, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        signal: controller.signal,
        headers: {
          Accept: "application/json",
          "Content-Type": "application/json",
          "X-CSRFToken": csrf,
        },
        body: JSON.stringify(payload),
      });
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

  async function upload() {
    if (uploading || navigator.onLine === false) return;
    uploading = true;
    try {
      const before = await waitingByEvent();
      await uploadWaiting({
        post,
        skip: new Set(refused.keys()),
        onRefused: ({ event, response, body, admits, nothingDone }) => {
          if (!nothingDone && admits && uploadRefusedForGood(response)) {
            // A page kept from before a new sign-in sends an old CSRF token.
            const signIn = response.status === 401 || /^CSRF/.test(body?.message || "");
            refused.set(
              event,
              signIn
                ? "sign in again (or reload this page) to upload them"
                : response.status === 403
                  ? "you're no longer on that event's door, ask the owner"
                  : body?.message || "the server would not take them",
            );
          }
        },
        onAnswered: async ({ event, answered }) => {
          const checking = [];
          for (const [admit, result] of answered) {
            await keepAnswerHere(event, result, admit);
            if (result.verdict !== "admit") checking.push(result);
          }
          if (!answered.length) return;
          const name = nameOf(event, before.get(event));
          done.push(`${plural(answered.length, "offline admit")} for ${name} uploaded.`);
          // Said here: the event's door page will not hear of them again.
          for (const result of checking) done.push(`Needs checking: ${answerText(result)}`);
        },
      });
    } catch {
      /* tried again later */
    } finally {
      uploading = false;
    }
    return render();
  }

  window.addEventListener("online", () => {
    refused.clear(); // back online: worth one more try
    upload();
  });
  setInterval(async () => {
    const events = await waitingByEvent().catch(() => new Map());
    if ([...events.values()].some((w) => w.admits.length || w.refusals.length)) upload();
  }, everyMs);
  return render().then(upload);
}
