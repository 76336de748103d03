"""A Server-Sent Events reader for the stream tests: the messages of a stream, parsed from its
lines here (httpx-sse hides comments, and the heartbeat is one), and helpers to read until
an event id.

Reads are bounded: a client's read timeout (READ_TIMEOUT) ends a stream that sends nothing,
and `read_until` ends at its deadline even while heartbeats keep the stream busy."""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

READ_TIMEOUT = 20.0
STREAM = "/api/v1/events/stream/"


@dataclass
class Message:
    """One dispatched message (`comment` set and the rest empty for a comment line)."""

    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)
    comment: str | None = None

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads("\n".join(self.data)))


def messages(response: httpx.Response) -> Iterator[Message]:
    """The stream's messages, and each comment as one of its own, as they arrive."""
    current = Message()
    for line in response.iter_lines():
        if line.startswith(":"):
            yield Message(comment=line[1:].strip())
            continue
        if line == "":
            if current.data or current.id is not None:
                yield current
            current = Message()
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            current.id = value
        elif name == "event":
            current.event = value
        elif name == "data":
            current.data.append(value)


def client(url: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = httpx.Timeout(30.0, read=READ_TIMEOUT)
    return httpx.Client(base_url=url, headers=headers, timeout=timeout)


class Stream:
    """An open event stream: its response and the events (not comments) read so far."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.iter = messages(response)
        self.events: list[dict[str, Any]] = []
        self.comments: list[str] = []

    def next_message(self) -> Message:
        message = next(self.iter)
        if message.comment is not None:
            self.comments.append(message.comment)
        else:
            event = message.json
            assert message.event is None, message  # the type is in the JSON, not an `event:` field
            assert message.id == str(event["id"]), message
            self.events.append(event)
        return message

    def read_until(self, last_id: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Read events until one with id >= last_id; the events read by this call."""
        deadline = time.monotonic() + timeout
        start = len(self.events)
        while not self.events or self.events[-1]["id"] < last_id:
            if time.monotonic() > deadline:
                raise AssertionError(f"no event {last_id} within {timeout}s; got {self.events[start:]}")
            self.next_message()
        return self.events[start:]

    def read_events(self, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Read the next n events."""
        deadline = time.monotonic() + timeout
        start = len(self.events)
        while len(self.events) < start + n:
            if time.monotonic() > deadline:
                raise AssertionError(f"not {n} events within {timeout}s; got {self.events[start:]}")
            self.next_message()
        return self.events[start:]


@contextmanager
def open_stream(
    http: httpx.Client, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> Iterator[Stream]:
    with http.stream("GET", STREAM, params=params, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response)


def listed(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every event the list endpoint shows (all its pages), oldest first."""
    found: list[dict[str, Any]] = []
    url: str | None = "/api/v1/events/"
    query: dict[str, Any] | None = {"page_size": 200, **params}
    while url is not None:
        r = http.get(url, params=query)
        assert r.status_code == 200, r.text
        found.extend(r.json()["results"])
        url, query = r.json()["next"], None
    return list(reversed(found))
