// The hold countdown: "Your tickets are held for 14:32, until 21:14 CET" on the
// pages shown while an order's tickets are held (templates/purchase/_hold_countdown.html).
// The server writes the end time; this counts down to it and, at zero, shows
// that the hold has lapsed, with its link back to the event, and turns the
// page's pay buttons ([data-hold-pay]) off: paying then would only be told
// "This hold has expired" (the server still decides). The clock ticks
// silently (role="timer"); screen readers hear 5 minutes left, 1 minute left
// and the end.

function clock(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

const WARNINGS = [
  [60, "1 minute left to pay before your tickets are released."],
  [300, "5 minutes left to pay before your tickets are released."],
];

/** Turn the pay buttons off: a button is disabled, a link loses its href. */
function disablePayButtons() {
  for (const control of document.querySelectorAll("[data-hold-pay]")) {
    if (control instanceof HTMLButtonElement) {
      control.disabled = true;
    } else if (control.hasAttribute("href")) {
      control.removeAttribute("href");
      control.setAttribute("aria-disabled", "true");
      control.setAttribute("role", "link");
    }
  }
}

function startCountdown(box) {
  const expiresAt = Number(box.dataset.expiresAt) * 1000;
  // Count against the server's clock: a phone's may be minutes out. Not for
  // the saved copy the service worker serves (offline, or on a network too
  // slow or failing; it then shows its note), whose server time is that of
  // the save: the phone's own clock is the better guess there.
  const savedCopy =
    navigator.onLine === false || document.querySelector("[data-saved-copy-note]:not([hidden])");
  const offset = savedCopy ? 0 : Number(box.dataset.serverNow) * 1000 - Date.now();
  const left = box.querySelector("[data-hold-left]");
  const forPart = box.querySelector("[data-hold-for]");
  const clockText = box.querySelector("[data-hold-clock]");
  const lapsed = box.querySelector("[data-hold-lapsed]");
  const announce = document.querySelector("[data-hold-announce]");
  if (!Number.isFinite(expiresAt) || !Number.isFinite(offset)) return;

  // Warnings already passed when the page opened are not said.
  const secondsLeft = () => Math.max(0, Math.ceil((expiresAt - (Date.now() + offset)) / 1000));
  let pending = WARNINGS.filter(([at]) => secondsLeft() > at);
  let timer = null;

  const tick = () => {
    const seconds = secondsLeft();
    if (seconds <= 0) {
      clearInterval(timer);
      box.classList.add("is-lapsed");
      left.hidden = true;
      lapsed.hidden = false;
      disablePayButtons();
      if (announce) announce.textContent = "Your hold has ended, so these tickets may go to someone else.";
      return;
    }
    clockText.textContent = clock(seconds);
    forPart.hidden = false;
    // The nearest warning reached (a phone back from sleep may have passed both).
    const reached = pending.filter(([at]) => seconds <= at);
    if (reached.length) {
      pending = pending.filter(([at]) => seconds > at);
      if (announce) announce.textContent = reached[0][1];
    }
  };
  tick();
  // A hold found over at the first tick needs no clock.
  if (!box.classList.contains("is-lapsed")) timer = setInterval(tick, 1000);
  // Timers sleep in a background tab or a locked phone: catch up on return.
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !box.classList.contains("is-lapsed")) tick();
  });
}

const box = document.querySelector("[data-hold-countdown]");
if (box && box.classList.contains("is-lapsed")) disablePayButtons();
else if (box) startCountdown(box);
