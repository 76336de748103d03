// vpsorg panel: the few behaviours that need a script. Every form works without it.
"use strict";

// Copy buttons: <button data-copy="text">Copy</button>.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button || !navigator.clipboard) return;
  navigator.clipboard.writeText(button.dataset.copy).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

// Confirm by typing: <input data-confirm-match="name" data-confirm-for="button-id">
// enables the button only when the typed text matches (the server checks it again).
function syncConfirm(input) {
  const button = document.getElementById(input.dataset.confirmFor);
  if (button) button.disabled = input.value !== input.dataset.confirmMatch;
}
document.addEventListener("input", (event) => {
  if (event.target.matches("[data-confirm-match]")) syncConfirm(event.target);
});
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-confirm-match]").forEach(syncConfirm);
});

// A form marked data-once is sent once: a second click while the first is on its way does
// not order a second server. Coming back to the page (the back button) allows it again.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-once]");
  if (!form) return;
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
});
window.addEventListener("pageshow", () => {
  document.querySelectorAll("form[data-once]").forEach((form) => { delete form.dataset.sent; });
});


// Live regions, without polling: a page with <div data-events="URL"> listens to the account's
// events there (Server-Sent Events: vpsorg.web.live); when one arrives, each [data-live]
// region (hx-trigger="event-arrived") fetches itself again, and its route answers 204 while
// it shows the same. A burst of events (a create brings five) makes one round of fetches.
// EventSource reconnects by itself, resuming after the last event it saw (Last-Event-ID).
document.addEventListener("DOMContentLoaded", () => {
  const source = document.querySelector("[data-events]");
  if (!source || !window.EventSource || !window.htmx) return;
  const events = new EventSource(source.dataset.events);
  let pending = null;
  events.addEventListener("message", () => {
    if (pending !== null) return;
    pending = setTimeout(() => {
      pending = null;
      document.querySelectorAll("[data-live]").forEach((region) => htmx.trigger(region, "event-arrived"));
    }, 50);
  });
});
