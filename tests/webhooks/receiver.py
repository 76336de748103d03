"""A webhook receiver on loopback for tests: records every request it gets and answers as
scripted (a status per request in turn, then 200)."""

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)  # the next requests' statuses, then 200
    answer: Callable[[Received], int] | None = None  # else: the status for this request
    extra_headers: dict[str, str] = field(default_factory=dict)
    answer_body: bytes = b"ok"
    hold: threading.Event | None = None  # set: answer; unset: wait before answering
    got: list[Received] = field(default_factory=list)
    answered: list[bool] = field(default_factory=list)  # per request: the whole answer was written
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, n: int, timeout: float = 20) -> list[Received]:
        """The first n requests, once they have come."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.got) >= n, timeout=timeout):
                raise AssertionError(f"{len(self.got)} requests came, not {n}: {[r.body for r in self.got]}")
            return list(self.got)

    def event_ids(self) -> list[int]:
        return [int(r.headers["vpsorg-event-id"]) for r in list(self.got)]


@contextmanager
def receiving(**kw: Any) -> Iterator[Receiver]:
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server's name)
            r = box[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with r.arrived:
                r.got.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                r.arrived.notify_all()
                status = r.answers.pop(0) if r.answers else 200
                if r.answer is not None:
                    status = r.answer(r.got[-1])
            if r.hold is not None:
                r.hold.wait(timeout=60)
            self.send_response(status)
            for k, v in r.extra_headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(r.answer_body)))
            self.end_headers()
            try:
                self.wfile.write(r.answer_body)
                self.wfile.flush()
                r.answered.append(True)
            except OSError:  # the sender stopped reading (it reads only a few KiB)
                r.answered.append(False)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box.append(Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook", **kw))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        if box[0].hold is not None:
            box[0].hold.set()
        server.shutdown()
        server.server_close()
