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

// htmx swaps only 2xx answers; a refusal (4xx) that names where it goes (HX-Retarget) is
// shown there, keeping its status (the inline SSH key form: vpsorg/web/ssh_keys.py).
document.addEventListener("htmx:beforeSwap", (event) => {
  const xhr = event.detail.xhr;
  if (xhr.status >= 400 && xhr.status < 500 && xhr.getResponseHeader("HX-Retarget")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// <form data-reset-on-success>: emptied once htmx has sent it and the server took it (2xx).
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (form instanceof HTMLFormElement && form.hasAttribute("data-reset-on-success") &&
      event.detail.xhr.status >= 200 && event.detail.xhr.status < 300) {
    form.reset();
  }
});
