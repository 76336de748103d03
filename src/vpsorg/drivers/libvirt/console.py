"""A guest's serial console through libvirt: virDomainOpenConsole into a virStream.

The stream is non-blocking and read as libvirt's event loop says it is readable (as `virsh
console` does): a blocking recv would hold the connection while the guest is silent, and
keystrokes could not be sent meanwhile. libvirt's default event loop runs in one daemon
thread of the process, registered before the first console's connection is opened (a
connection only uses the event loop registered before it opened: each console has its own
connection, so the driver's other calls never wait on a console). Bytes read are handed to
the asyncio loop of the session; writes run in a worker thread.
"""

import asyncio
import contextlib
import threading
import time

import libvirt

from vpsorg.drivers.base import DriverError, MachineNotFound
from vpsorg.drivers.libvirt.errors import ERR_NO_DOMAIN, map_error

CHUNK = 65536
EVENTS = libvirt.VIR_STREAM_EVENT_READABLE | libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP
WOULD_BLOCK = -2  # what the binding's recv and send return for EAGAIN on a non-blocking stream
SEND_TIMEOUT = 10.0

_events_lock = threading.Lock()
_events_running = False


def _run_events() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


def ensure_event_loop() -> None:
    """Register libvirt's default event loop and run it in a daemon thread, once a process."""
    global _events_running
    with _events_lock:
        if _events_running:
            return
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=_run_events, name="libvirt-events", daemon=True).start()
        _events_running = True


class LibvirtConsole:
    """One session on a domain's serial console (drivers.base.Console)."""

    def __init__(self, uri: str, name: str) -> None:
        self.uri = uri
        self.name = name
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._conn: libvirt.virConnect | None = None
        self._stream: libvirt.virStream | None = None
        self._eof = False  # the stream ended (seen in the event thread)
        self._ended = False  # the reader was told so
        self._lock = threading.Lock()

    def open(self) -> None:
        """Attach (blocking: run in a thread); forcibly, so a stale session cannot lock a
        customer out of their console."""
        ensure_event_loop()
        try:
            self._conn = libvirt.open(self.uri)
            dom = self._conn.lookupByName(self.name)
            if not dom.isActive():
                raise DriverError(f"{self.name} is not running")
            self._stream = self._conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
            dom.openConsole(None, self._stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
            self._stream.eventAddCallback(EVENTS, self._on_event, None)
        except libvirt.libvirtError as e:
            self.release()
            if e.get_error_code() == ERR_NO_DOMAIN:
                raise MachineNotFound(f"machine {self.name} does not exist", code=ERR_NO_DOMAIN) from None
            raise map_error(
                e.get_error_code(), e.get_error_message(), f"opening {self.name}'s console"
            ) from None
        except DriverError:
            self.release()
            raise

    def _on_event(self, stream: libvirt.virStream, events: int, _opaque: object) -> None:
        """In libvirt's event thread: read what is there, or note the end."""
        if events & libvirt.VIR_STREAM_EVENT_READABLE:
            while True:
                try:
                    data = stream.recv(CHUNK)
                except libvirt.libvirtError:
                    self._finish()
                    return
                if data == WOULD_BLOCK:
                    break
                if not data:
                    self._finish()
                    return
                self._loop.call_soon_threadsafe(self._queue.put_nowait, bytes(data))
        if events & (libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP):
            self._finish()

    def _finish(self) -> None:
        with self._lock:
            if self._eof:
                return
            self._eof = True
        with contextlib.suppress(libvirt.libvirtError):
            if self._stream is not None:
                self._stream.eventRemoveCallback()
        with contextlib.suppress(RuntimeError):  # the session's loop is gone: nobody reads
            self._loop.call_soon_threadsafe(self._queue.put_nowait, b"")

    async def read(self) -> bytes:
        if self._ended:
            return b""
        data = await self._queue.get()
        if not data:
            self._ended = True
        return data

    async def write(self, data: bytes) -> None:
        if self._eof or self._stream is None:
            raise DriverError(f"{self.name}'s console session is over")
        await asyncio.to_thread(self._send, data)

    def _send(self, data: bytes) -> None:
        assert self._stream is not None
        deadline = time.monotonic() + SEND_TIMEOUT
        while data:
            try:
                sent = self._stream.send(data)
            except libvirt.libvirtError as e:
                raise map_error(
                    e.get_error_code(), e.get_error_message(), f"typing on {self.name}'s console"
                ) from None
            if sent == WOULD_BLOCK:
                if time.monotonic() > deadline:
                    raise DriverError(f"{self.name}'s console does not take input")
                time.sleep(0.01)
                continue
            data = data[sent:]

    async def close(self) -> None:
        self._ended = True
        await asyncio.to_thread(self.release)

    def release(self) -> None:
        """Detach the stream and close the session's connection (blocking; idempotent)."""
        with self._lock:
            self._eof = True
            stream, conn = self._stream, self._conn
            self._stream = self._conn = None
        if stream is not None:
            with contextlib.suppress(libvirt.libvirtError):
                stream.eventRemoveCallback()
            with contextlib.suppress(libvirt.libvirtError):
                stream.abort()
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()
