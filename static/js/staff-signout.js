// Signing out of the staff site forgets the door on this phone: a door phone
// is often a volunteer's own, and the door keeps every ticket holder's name
// (the offline guest list), its pages and its service worker on it. Offline
// admits not uploaded yet are never dropped without asking, and with no
// network nothing is forgotten: the phone must still scan offline.
// Without this script the form signs out as any form posts.

import { countWaitingAdmits, forgetDoorData } from "./door-offline.js";

const DOOR_CACHE_PREFIX = "nightpass-door-";

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** Drop the door's kept pages and its service worker (the door's scope only:
 * on a shared host the customer's saved tickets have their own). */
async function forgetDoorPages(scope) {
  if ("caches" in window) {
    const keys = await caches.keys();
    await Promise.all(
      keys.filter((key) => key.startsWith(DOOR_CACHE_PREFIX)).map((key) => caches.delete(key)),
    );
  }
  if ("serviceWorker" in navigator) {
    const doorScope = new URL(scope, location.href).href;
    for (const registration of await navigator.serviceWorker.getRegistrations()) {
      if (registration.scope.startsWith(doorScope)) await registration.unregister();
    }
  }
}

async function signOut(form) {
  // Unknown (the phone's storage would not answer): asked, as if some wait.
  const waiting = await countWaitingAdmits().catch(() => null);
  if (
    waiting === null &&
    !window.confirm(
      "This phone could not check whether guests let in offline are still " +
        "waiting to upload. Signing out deletes any from this phone.\n\n" +
        "Sign out anyway?",
    )
  ) {
    return;
  }
  if (
    waiting &&
    !window.confirm(
      `${plural(waiting, "guest")} let in offline on this phone ` +
        `${waiting === 1 ? "hasn't" : "haven't"} been uploaded yet.\n\n` +
        "Signing out deletes them from this phone: the scan log and the door " +
        "counts will never show them. To upload them first, cancel and " +
        "open the door page with network.\n\nSign out anyway?",
    )
  ) {
    return;
  }
  let response;
  try {
    response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
    });
  } catch {
    window.alert(
      "No network, so you are still signed in and this phone can still scan " +
        "offline. Sign out again once it is back online.",
    );
    return;
  }
  if (!response.ok) {
    form.submit(); // the server's own answer, as without this script
    return;
  }
  // Signed out: now nothing of the door stays on this phone.
  await Promise.all([
    forgetDoorData().catch(() => {}),
    forgetDoorPages(form.dataset.doorScope).catch(() => {}),
  ]);
  location.assign(response.url);
}

const form = document.querySelector("form[data-sign-out]");
form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (form.hasAttribute("aria-busy")) return;
  form.setAttribute("aria-busy", "true");
  try {
    await signOut(form);
  } finally {
    form.removeAttribute("aria-busy");
  }
});
