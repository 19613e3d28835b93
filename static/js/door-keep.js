// Keeping a door page for offline use: the door's service worker fetches and
// stores the page it is asked to keep. The page loaded before the worker was
// in charge (a phone's first visit, or a tap made while it was installing)
// never came through the worker, so without this a reopen with no network
// would find no copy of it.

/** Register the door's service worker and have it keep `url`; true once kept. */
export async function keepPageOffline({ swUrl, scope, url = location.href, waitMs = 20_000 }) {
  await navigator.serviceWorker.register(swUrl, { scope });
  const { active } = await navigator.serviceWorker.ready;
  const answer = await new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve({}), waitMs);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      resolve(event.data || {});
    };
    active.postMessage({ type: "keep-page", url }, [channel.port2]);
  });
  return Boolean(answer.kept);
}
