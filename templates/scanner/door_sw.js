// Service worker for the door pages (scope: the door's path). It keeps the
// door's page and assets so a phone can reopen it with no network; API calls
// always go to the network (the page falls back to its offline copy itself).
const CACHE = "nightpass-door-{{ version }}";
const SHELL = [{% for url in shell_urls %}"{{ url|escapejs }}"{% if not forloop.last %}, {% endif %}{% endfor %}];
const SCOPE = new URL(self.registration.scope).pathname;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(
          keys.filter((key) => key.startsWith("nightpass-door-") && key !== CACHE)
            .map((key) => caches.delete(key)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    return notKeptPage(cache);
  }
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

// The door pages this phone keeps, by their titles ("Door · Open Mic Tonight"),
// the list first: what a page not kept offers instead of a dead end.
async function keptPages(cache) {
  const pages = [];
  for (const request of await cache.keys()) {
    const url = new URL(request.url);
    if (!url.pathname.startsWith(SCOPE) || SHELL.includes(url.pathname)) continue;
    const response = await cache.match(request);
    const type = (response && response.headers.get("Content-Type")) || "";
    if (!type.startsWith("text/html")) continue;
    const title = (await response.text()).match(/<title>([^<]*)<\/title>/);
    pages.push({ href: url.pathname, title: title ? title[1].trim() : escapeHtml(url.pathname) });
  }
  return pages.sort((a, b) => (a.href === SCOPE ? -1 : b.href === SCOPE ? 1 : 0));
}

async function notKeptPage(cache) {
  const pages = await keptPages(cache);
  const links = pages
    .map((page) => `<li><a href="${escapeHtml(page.href)}">${page.title}</a></li>`)
    .join("");
  return new Response(
    "<!doctype html><meta name=viewport content='width=device-width'><title>Offline · Door</title>" +
      "<body data-not-kept style='font:18px system-ui;background:#0f0f17;color:#fff;padding:24px'>" +
      "<h1>No network</h1><p>This page isn't saved on this phone, so it can't open offline. " +
      "Each door page is saved the first time it is opened with network.</p>" +
      (links
        ? "<p>Saved on this phone:</p><ul style='line-height:2.4'>" + links + "</ul>"
        : "") +
      "<style>a{color:#ff7ab6;font-weight:600}</style>",
    { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } },
  );
}

async function staleWhileRevalidate(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request);
  const refresh = fetch(request)
    .then((response) => {
      if (response.ok) cache.put(request, response.clone());
      return response;
    })
    .catch(() => cached);
  return cached || refresh;
}

// A page asks to be kept: the one loaded before this worker was in charge
// (the first visit, or a tap made while it was installing) never came
// through networkFirst, so a reload with no network would find no copy.
async function keepPage(url) {
  const target = new URL(url, self.location.href);
  if (target.origin !== self.location.origin || !target.pathname.startsWith(SCOPE)) {
    return false;
  }
  const response = await fetch(target.href, { credentials: "same-origin" });
  if (!response.ok || response.redirected) return false;
  const cache = await caches.open(CACHE);
  await cache.put(target.href, response);
  return true;
}

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type !== "keep-page") return;
  const port = event.ports[0];
  event.waitUntil(
    keepPage(String(data.url || ""))
      .catch(() => false)
      .then((kept) => port && port.postMessage({ kept })),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname.startsWith(SCOPE)) {
    event.respondWith(networkFirst(request));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(staleWhileRevalidate(request));
  }
});
