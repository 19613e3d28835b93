// Service worker for the ticket and order pages (purchase/saved_pages.py).
// Registered once for the ticket pages' path and once for the order pages',
// so it controls nothing else. Each ticket or order page opened on this
// device is kept, the latest few of them, with the static files it uses:
// network first, so a page shows its current status whenever there is
// signal; without signal the saved copy, with its note saying since when.
// Nothing else is kept: no API answer, no checkout or payment page.
const CONFIG = {{ config|safe }};
const PAGES = "nightpass-saved-pages";
const ASSETS = "nightpass-saved-assets";
const SAVED_AT = "X-Saved-At";
// Past this, a page that has a saved copy shows it: a phone with one bar
// of signal can wait a minute for a request to fail.
const NETWORK_TIMEOUT_MS = 6000;
// Every ticket and order page carries this note, hidden; a saved copy is
// shown with it (templates/purchase/_saved_copy_note.html).
const NOTE_HIDDEN = "data-saved-copy-note hidden";
const NOTE_SHOWN = "data-saved-copy-note";
const STATIC_PREFIX = new URL(CONFIG.staticUrl, self.location.href).href;

// Saves (or forgets) in progress, by page: a page asking to be kept while
// its own load is being saved waits for that instead of loading it again.
const inflight = new Map();

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// The key a page is kept under (its address without query), or null for
// anything that is not a ticket or order page.
function pageKey(href) {
  const url = new URL(href, self.location.href);
  if (url.origin !== self.location.origin) return null;
  for (const prefix of CONFIG.pagePaths) {
    if (url.pathname.startsWith(prefix) && /^[^/]+\/$/.test(url.pathname.slice(prefix.length))) {
      return url.origin + url.pathname;
    }
  }
  return null;
}

function assetsOf(response) {
  const listed = (response && response.headers.get(CONFIG.assetsHeader)) || "";
  return listed.split(",").map((path) => path.trim()).filter(Boolean)
    .map((path) => new URL(path, self.location.href).href);
}

async function savedCopy(key) {
  const pages = await caches.open(PAGES);
  return pages.match(key, { ignoreVary: true });
}

// Keep the page's answer and the files it uses; a page that is gone (404,
// 410) loses its copy. Other answers (a redirect, a server error) change
// nothing.
async function remember(key, response) {
  const pages = await caches.open(PAGES);
  if (response.status === 404 || response.status === 410) {
    await pages.delete(key, { ignoreVary: true });
    await prune();
    return;
  }
  if (response.status !== 200 || response.type !== "basic" || response.redirected) return;
  const headers = new Headers(response.headers);
  headers.set(SAVED_AT, String(Date.now()));
  const body = await response.blob();
  const assets = await caches.open(ASSETS);
  await Promise.all(
    assetsOf(response).map(async (url) => {
      if (!(await assets.match(url))) await assets.add(url).catch(() => {});
    }),
  );
  await pages.put(key, new Response(body, { status: 200, statusText: response.statusText, headers }));
  await prune();
}

// The latest CONFIG.maxPages pages stay, and the files they still use.
async function prune() {
  const pages = await caches.open(PAGES);
  const entries = await Promise.all(
    (await pages.keys()).map(async (request) => {
      const response = await pages.match(request, { ignoreVary: true });
      return { request, savedAt: Number(response?.headers.get(SAVED_AT)) || 0, assets: assetsOf(response) };
    }),
  );
  entries.sort((a, b) => b.savedAt - a.savedAt);
  await Promise.all(entries.slice(CONFIG.maxPages).map((entry) => pages.delete(entry.request)));
  const needed = new Set(entries.slice(0, CONFIG.maxPages).flatMap((entry) => entry.assets));
  const assets = await caches.open(ASSETS);
  await Promise.all(
    (await assets.keys()).filter((request) => !needed.has(request.url))
      .map((request) => assets.delete(request)),
  );
}

// The page from the network, and the saving of it (done once the answer
// is in, behind the page): {answer, saving}.
function pageFromNetwork(request, key) {
  let saving;
  const answer = fetch(request).then((response) => {
    saving = remember(key, response.clone());
    return response;
  });
  const done = answer
    .then(() => saving)
    .catch(() => {})
    .finally(() => inflight.get(key) === done && inflight.delete(key));
  inflight.set(key, done);
  return { answer, saving: done };
}

async function shownAsSaved(saved) {
  const html = (await saved.text()).replace(NOTE_HIDDEN, NOTE_SHOWN);
  const headers = new Headers(saved.headers);
  headers.delete("Content-Length");
  headers.delete("Content-Encoding");
  return new Response(html, { status: 200, headers });
}

function noSavedCopy() {
  return new Response(
    "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width, initial-scale=1'>" +
      "<title>Offline</title><body style='font:18px/1.5 system-ui,sans-serif;margin:0;padding:24px;background:#fff;color:#111'>" +
      "<h1>You're offline</h1><p>This page has not been opened on this device before, so there is " +
      "no saved copy of it here. Open it once with a connection and it will open without signal too.</p>",
    { status: 503, headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" } },
  );
}

async function openPage(event, key) {
  const { answer: network, saving } = pageFromNetwork(event.request, key);
  event.waitUntil(saving);
  const saved = await savedCopy(key);
  if (!saved) return network.catch(noSavedCopy);
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, NETWORK_TIMEOUT_MS, null);
  });
  try {
    const response = await Promise.race([network, timeout]);
    // A server error is no fresher than the copy: show the copy, marked.
    if (response && response.status < 500) return response;
  } catch {
    // No network: the saved copy below.
  } finally {
    clearTimeout(timer);
  }
  return shownAsSaved(saved);
}

// A file a kept page uses: from the cache when it is there (refreshed
// behind), so a page opened with a weak signal is not held up by it.
async function asset(event) {
  const assets = await caches.open(ASSETS);
  const cached = await assets.match(event.request);
  if (!cached) return fetch(event.request);
  event.waitUntil(
    fetch(event.request)
      .then((response) => response.ok && assets.put(event.request, response))
      .catch(() => {}),
  );
  return cached;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const key = request.mode === "navigate" ? pageKey(request.url) : null;
  if (key) event.respondWith(openPage(event, key));
  else if (request.url.startsWith(STATIC_PREFIX)) event.respondWith(asset(event));
});

// A page loaded without this worker (the first visit, a forced reload) or
// under another address (the page right after paying shows the order) asks
// to be kept: {type: "save-page", url}. The answer, on the port sent with
// it, says whether this device now has a copy.
async function keep(key) {
  if (!key) return false;
  const pending = inflight.get(key);
  if (pending) {
    await pending;
  } else {
    const saved = await savedCopy(key);
    const age = Date.now() - Number(saved?.headers.get(SAVED_AT) || 0);
    if (!saved || age > 10_000) {
      await pageFromNetwork(new Request(key), key).saving;
    }
  }
  return Boolean(await savedCopy(key));
}

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type !== "save-page") return;
  const port = event.ports[0];
  event.waitUntil(
    keep(pageKey(String(data.url || "")))
      .catch(() => false)
      .then((saved) => port && port.postMessage({ saved })),
  );
});
