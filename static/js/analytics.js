// Event analytics page: keeps the night-of part current without a reload.
//
// live.js (loaded by base.html) subscribes to the door feed of the element
// marked data-live-door and dispatches `door:message` for each scan or counter
// change, and `live:resync` after every (re)connect. Each of those schedules a
// refetch of the server-rendered fragment, at most one every two seconds so a
// busy door does not turn into a request per scan. A slow poll covers the case
// where no socket is up at all.
const root = document.querySelector("[data-analytics-live]");

if (root) {
  const url = root.dataset.liveUrl;
  const eventId = root.dataset.liveDoor;
  const MIN_GAP_MS = 2000;
  const FALLBACK_POLL_MS = 60000;
  let timer = null;
  let inFlight = false;
  let again = false;
  let last = 0;

  const schedule = () => {
    if (timer !== null) return;
    const wait = Math.max(0, MIN_GAP_MS - (Date.now() - last));
    timer = setTimeout(refresh, wait);
  };

  async function refresh() {
    timer = null;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    last = Date.now();
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      // A redirect means the session ended: keep the figures we have.
      if (response.ok && !response.redirected) {
        // Numbers opened under a chart stay open through the swap.
        const open = [...root.querySelectorAll("details")].map((d) => d.open);
        root.innerHTML = await response.text();
        root.querySelectorAll("details").forEach((d, i) => {
          if (open[i]) d.open = true;
        });
        root.dispatchEvent(new CustomEvent("analytics:refreshed", { bubbles: true }));
      }
    } catch (error) {
      // Offline: the next message, resync or poll tries again.
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  }

  document.addEventListener("door:message", (event) => {
    const id = event.detail && event.detail.event_id;
    if (id && id !== eventId) return;
    schedule();
  });
  document.addEventListener("live:resync", schedule);
  setInterval(() => {
    if (!document.hidden) schedule();
  }, FALLBACK_POLL_MS);
}
