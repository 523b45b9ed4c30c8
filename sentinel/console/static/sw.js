"use strict";
// The phone page's service worker: makes /m/ installable and keeps its own files for a weak signal.
// Only the page's static files are cached; the API (cases, photos) always goes to the network.
const CACHE = "sentinel-m-1";
const SHELL = ["/m/m.js", "/m/m.css", "/static/common.js", "/m/icon.svg", "/m/icon-192.png", "/m/manifest.webmanifest"];

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!SHELL.includes(url.pathname)) return;  // the API, photos, the page itself: network only
  // network first (a new version shows at once), the cached copy when there is no signal
  ev.respondWith(fetch(ev.request).then((resp) => {
    const copy = resp.clone();
    if (resp.ok) caches.open(CACHE).then((c) => c.put(ev.request, copy));
    return resp;
  }).catch(() => caches.match(ev.request)));
});
