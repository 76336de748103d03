"""A WebSocket client's view of a serial console, for the tests (the `websockets` package)."""

import re
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from vpsorg.drivers.simconsole import SIM_CONSOLE_PASSWORD, SIM_CONSOLE_USER

# Terminal control sequences (bash's bracketed paste, colours): not text.
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]")


class Session:
    """A console over a WebSocket: what it has shown so far, and ways to wait for more."""

    def __init__(self, url: str) -> None:
        self.ws: ClientConnection = connect(url, open_timeout=30)
        self.seen = b""

    def until(self, marker: bytes, timeout: float = 30) -> bytes:
        """Read until `marker` appears in what arrived since the last call; that part."""
        deadline = time.monotonic() + timeout
        while marker not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{marker!r} did not arrive; the console showed {self.seen[-500:]!r}")
            try:
                data: Any = self.ws.recv(timeout=left)
            except TimeoutError:
                continue
            self.seen += data if isinstance(data, bytes) else data.encode()
        head, _, tail = self.seen.partition(marker)
        self.seen = tail
        return head + marker

    def send(self, text: str) -> None:
        self.ws.send(text.encode())

    def login(self, user: str = SIM_CONSOLE_USER, password: str = SIM_CONSOLE_PASSWORD) -> None:
        self.until(b"login: ")
        self.send(user + "\r")
        self.until(b"Password: ")
        self.send(password + "\r")

    def run(self, command: str, prompt: bytes = b"$ ") -> str:
        """Type a command; what it printed (between the echoed line and the next prompt)."""
        self.send(command + "\r")
        shown = self.until(prompt).decode(errors="replace")
        lines = [line.strip() for line in ESCAPES.sub("", shown).replace("\r", "").split("\n")]
        return "\n".join(line for line in lines[1:-1] if line)

    def wake(self, marker: bytes = b"login: ", attempts: int = 20, every: float = 6.0) -> bytes:
        """A real getty printed its prompt before we attached: press Enter until it shows
        again (the guest may still be starting its getty)."""
        for _ in range(attempts):
            self.send("\r")
            try:
                return self.until(marker, timeout=every)
            except AssertionError:
                continue
        raise AssertionError(f"no {marker!r} on the console; it showed {self.seen[-500:]!r}")

    def close(self) -> None:
        self.ws.close()


def refused(url: str) -> tuple[int | None, str]:
    """Connect to a URL the server should refuse: the close code and reason it sent."""
    with connect(url, open_timeout=30) as ws:
        try:
            ws.recv(timeout=30)
        except ConnectionClosed as exc:
            assert exc.rcvd is not None, "closed without a close frame"
            return exc.rcvd.code, exc.rcvd.reason
    raise AssertionError("the console sent data instead of refusing")
