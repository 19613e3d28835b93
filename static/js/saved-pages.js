// Ticket and order pages: keep a copy on this device, so the ticket still
// shows in a venue with no signal. The service worker
// (templates/purchase/saved_pages_sw.js) keeps the pages loaded through it;
// this page asks it to keep this one too, since the page may have been
// loaded without it (the first visit, a forced reload) or under another
// address (the page right after paying shows the order).
//
// A paid order's page keeps its tickets with it, opened or not: it says it
// is saved on this device, and at the door it is a ticket that must open.
const page = document.querySelector("[data-saved-page]");

// The worker keeps the latest 20 pages (purchase/saved_pages.py,
// MAX_SAVED_PAGES): the order's own page and at most this many tickets.
const MAX_TICKETS_KEPT = 19;

function ask(worker, message) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve({}), 20_000);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      resolve(event.data || {});
    };
    worker.postMessage(message, [channel.port2]);
  });
}

// Resolves once the registration has a worker that answers navigations.
function activated(registration) {
  if (registration.active) return Promise.resolve();
  const worker = registration.installing || registration.waiting;
  if (!worker) return Promise.resolve();
  return new Promise((resolve) => {
    const settled = () => worker.state === "activated" || worker.state === "redundant";
    if (settled()) resolve();
    else worker.addEventListener("statechange", () => settled() && resolve());
  });
}

// The live tickets this paid order's page links to (a void ticket has no
// link), same site only.
function ticketLinks() {
  if (page.dataset.orderStatus !== "paid") return [];
  const links = page.querySelectorAll("[data-ticket-status] a[href]");
  const urls = Array.from(links, (link) => new URL(link.href, location.href)).filter(
    (url) => url.origin === location.origin && /\/[^/]+\/$/.test(url.pathname),
  );
  return [...new Set(urls.map((url) => url.pathname))].slice(0, MAX_TICKETS_KEPT);
}

// Each ticket's copy, kept by this page's worker (one store for the whole
// site), and a registration of the worker over the tickets' path, so that
// opening one of them without signal finds it.
async function keepTickets(worker, paths) {
  if (!paths.length) return true;
  const scope = paths[0].replace(/[^/]+\/$/, "");
  const registration = await navigator.serviceWorker.register(page.dataset.worker, { scope });
  const answers = await Promise.all(paths.map((url) => ask(worker, { type: "save-page", url })));
  await activated(registration);
  return answers.every((answer) => answer.saved);
}

async function keepThisPage() {
  const { savedPage: url, worker, workerScope: scope } = page.dataset;
  await navigator.serviceWorker.register(worker, { scope });
  const registration = await navigator.serviceWorker.ready;
  const answer = await ask(registration.active, { type: "save-page", url });
  if (!answer.saved) return;
  if (!(await keepTickets(registration.active, ticketLinks()))) return;
  page.dataset.savedOffline = "true";
  const line = document.querySelector("[data-saved-offline-line]");
  if (line) line.hidden = false;
}

if (page && "serviceWorker" in navigator && window.isSecureContext) {
  keepThisPage().catch(() => {});
}
