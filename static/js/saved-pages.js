// Ticket and order pages: keep a copy on this device, so the ticket still
// shows in a venue with no signal. The service worker
// (templates/purchase/saved_pages_sw.js) keeps the pages loaded through it;
// this page asks it to keep this one too, since the page may have been
// loaded without it (the first visit, a forced reload) or under another
// address (the page right after paying shows the order).
const page = document.querySelector("[data-saved-page]");

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

async function keepThisPage() {
  const { savedPage: url, worker, workerScope: scope } = page.dataset;
  await navigator.serviceWorker.register(worker, { scope });
  const registration = await navigator.serviceWorker.ready;
  const answer = await ask(registration.active, { type: "save-page", url });
  if (!answer.saved) return;
  page.dataset.savedOffline = "true";
  const line = document.querySelector("[data-saved-offline-line]");
  if (line) line.hidden = false;
}

if (page && "serviceWorker" in navigator && window.isSecureContext) {
  keepThisPage().catch(() => {});
}
