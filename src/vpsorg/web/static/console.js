// vpsorg panel: a server's serial console in its page (xterm.js, vendored beside this file).
// The Console button asks the panel for a single-use ticket (the session's CSRF token in a
// header), then opens the ticket's WebSocket: the console's bytes go to the terminal, and the
// terminal's keys to the console.
"use strict";

let session = null; // the open console: {term, ws}

function csrfToken() {
  const headers = document.body.getAttribute("hx-headers");
  return headers ? JSON.parse(headers)["X-CSRF-Token"] : "";
}

function closeSession() {
  if (!session) return;
  session.ws.close();
  session.term.dispose();
  session = null;
}

function attach(url, box, status, button) {
  closeSession();
  box.hidden = false;
  const term = new Terminal({ cursorBlink: true, rows: 24, cols: 80, screenReaderMode: true });
  term.open(box);
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const encoder = new TextEncoder();
  session = { term, ws };
  ws.addEventListener("open", () => {
    status.textContent = "Connected. Press Enter for the login prompt.";
    term.focus();
  });
  ws.addEventListener("message", (event) => {
    term.write(typeof event.data === "string" ? event.data : new Uint8Array(event.data));
  });
  ws.addEventListener("close", (event) => {
    status.textContent = "The console closed" + (event.reason ? ": " + event.reason : ".");
    button.disabled = false;
  });
  term.onData((data) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
  });
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("#console-open");
  if (!button) return;
  const status = document.getElementById("console-status");
  const box = document.getElementById("console-terminal");
  button.disabled = true;
  status.textContent = "Connecting…";
  try {
    const answer = await fetch(button.dataset.ticketUrl, {
      method: "POST",
      headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json" },
      credentials: "same-origin",
    });
    const body = await answer.json();
    if (!answer.ok) {
      status.textContent = body.error ? body.error.message : "The console could not be opened.";
      button.disabled = false;
      return;
    }
    attach(body.url, box, status, button);
  } catch (error) {
    status.textContent = "The console could not be opened: " + error;
    button.disabled = false;
  }
});
