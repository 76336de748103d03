# Generated from aio.py by scripts/unasync.py; do not edit (edit aio.py, then `make sdk`).
"""The synchronous client, `Client`: vpsorg.client's API, each call returning its answer.

Generated from vpsorg.client.aio (the same classes without `Async` in their names, the same
methods without `await`): read that file for what a method does, and change it there.
"""

import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from time import monotonic
from typing import Any, Literal, TypeVar, overload

import httpx
from tenacity import Retrying, retry_if_exception, retry_if_result, stop_after_attempt, stop_after_delay

from vpsorg.client import _core
from vpsorg.client._core import DEFAULT_TIMEOUT, DEFAULT_WAIT_TIMEOUT, Backoff
from vpsorg.client.errors import ActionFailed, ActionTimeout, APIError, TransportError, error_from_response
from vpsorg.client.models import (
    Account,
    ActionData,
    ConsoleTicket,
    DryRun,
    Event,
    LedgerEntry,
    Location,
    Model,
    OperatingSystem,
    Plan,
    ServerData,
    Snapshot,
    SshKey,
    Token,
    Webhook,
    WebhookDelivery,
)

M = TypeVar("M", bound=Model)
OnPoll = Callable[["Action"], None]


@dataclass(frozen=True)
class Action(ActionData):
    """An action, bound to the client that read it: `wait()` until it is over."""

    _client: "Client | None" = field(default=None, repr=False, compare=False)

    def wait(self, timeout: float = DEFAULT_WAIT_TIMEOUT, on_poll: OnPoll | None = None) -> "Action":
        """Wait until the action ends (on the event stream, else polling: see actions.wait);
        ActionFailed if it failed, ActionTimeout if it is not over within `timeout` seconds."""
        assert self._client is not None
        return self._client.actions.wait(self.id, timeout=timeout, on_poll=on_poll)

    def refresh(self) -> "Action":
        assert self._client is not None
        return self._client.actions.get(self.id)


@dataclass(frozen=True)
class Server(ServerData):
    """A server, bound to the client that read it."""

    _client: "Client | None" = field(default=None, repr=False, compare=False)

    @property
    def _c(self) -> "Client":
        assert self._client is not None
        return self._client

    def refresh(self) -> "Server":
        return self._c.servers.get(self.id)

    def start(self, *, wait: bool = False, timeout: float = DEFAULT_WAIT_TIMEOUT) -> Action:
        return self._c.servers.start(self.id, wait=wait, timeout=timeout)

    def stop(self, *, wait: bool = False, timeout: float = DEFAULT_WAIT_TIMEOUT) -> Action:
        return self._c.servers.stop(self.id, wait=wait, timeout=timeout)

    def reboot(self, *, wait: bool = False, timeout: float = DEFAULT_WAIT_TIMEOUT) -> Action:
        return self._c.servers.reboot(self.id, wait=wait, timeout=timeout)

    def rebuild(
        self,
        *,
        os_id: int | None = None,
        snapshot_id: int | None = None,
        ssh_key_ids: Sequence[int] | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
    ) -> Action:
        return self._c.servers.rebuild(
            self.id, os_id=os_id, snapshot_id=snapshot_id, ssh_key_ids=ssh_key_ids, wait=wait, timeout=timeout
        )

    def resize(self, plan_id: int, *, wait: bool = False, timeout: float = DEFAULT_WAIT_TIMEOUT) -> Action:
        """Give the server (stopped) another plan; see servers.resize."""
        return self._c.servers.resize(self.id, plan_id, wait=wait, timeout=timeout)

    def update(self, **fields: Any) -> "Server":
        return self._c.servers.update(self.id, **fields)

    def request_console(self) -> ConsoleTicket:
        """A single-use ticket to this server's serial console (see Servers.request_console)."""
        return self._c.servers.request_console(self.id)

    def delete(self) -> None:
        self._c.servers.delete(self.id)

    def actions(self) -> Iterator[Action]:
        return self._c.servers.actions(self.id)


class Client:
    """The VPS.org server API.

    Every call is retried on connection errors, 5xx and 429 answers, with `backoff`
    (honouring Retry-After) up to `max_retries` times: GET, PUT and DELETE are idempotent,
    and each POST carries an Idempotency-Key (a new one per call, the same for its retries),
    so the API acts on it once however often it arrives. `http` replaces the underlying
    httpx.Client (tests pass one bound to the app in-process)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http: httpx.Client | None = None,
        max_retries: int = 3,
        backoff: Backoff | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self._headers = _core.headers(token)
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self.servers = Servers(self)
        self.actions = Actions(self)
        self.plans = Catalog(self, "/api/v1/plans/", Plan)
        self.os = Catalog(self, "/api/v1/os/", OperatingSystem)
        self.locations = Catalog(self, "/api/v1/locations/", Location)
        self.ssh_keys = SshKeys(self)
        self.snapshots = Snapshots(self)
        self.webhooks = Webhooks(self)
        self.account = AccountAPI(self)
        self.tokens = Tokens(self)
        self.admin = Admin(self)
        self.events = Events(self)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> Any:
        """One call: the response's JSON (None for 204), or an APIError / TransportError."""
        key = _core.idempotency_header(method)
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=_core.retry_wait(self.backoff),
            retry=retry_if_exception(lambda exc: _core.should_retry(method, exc, keyed=bool(key))),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                try:
                    response = self._http.request(
                        method,
                        self.base_url + path,
                        params=params,
                        json=json,
                        headers=self._headers | key,
                        timeout=self.timeout,
                    )
                except httpx.TransportError as exc:
                    raise _core.transport_error(
                        exc, method, self.base_url + path, attempt.retry_state.attempt_number
                    ) from exc
                return _core.check(response, method, attempt.retry_state.attempt_number)
        raise AssertionError("unreachable")

    def bind(self, cls: type[M], data: dict[str, Any]) -> M:
        return _core.bind(self, cls, data)

    def pages(self, path: str, cls: type[M], *, page_size: int = 50, **filters: Any) -> Iterator[M]:
        """Every item of a list, fetching the next page only when the last one is used up."""
        page = 1
        while True:
            body = self.request("GET", path, params=_core.list_params(page, page_size, **filters))
            for item in body["results"]:
                yield self.bind(cls, item)
            if not body.get("next"):
                return
            page += 1


class Servers:
    def __init__(self, client: Client) -> None:
        self._c = client

    def list(
        self,
        *,
        status: str | None = None,
        location: str | None = None,
        label_selector: str | None = None,
        page_size: int = 50,
    ) -> Iterator[Server]:
        return self._c.pages(
            "/api/v1/servers/",
            Server,
            page_size=page_size,
            status=status,
            location=location,
            label_selector=label_selector,
        )

    def get(self, server_id: int) -> Server:
        return self._c.bind(Server, self._c.request("GET", f"/api/v1/servers/{server_id}/"))

    @overload
    def create(
        self,
        name: str,
        plan_id: int,
        os_id: int | None,
        location: str,
        *,
        snapshot_id: int | None = None,
        hostname: str | None = None,
        ssh_key_id: int | None = None,
        ssh_key_ids: Sequence[int] | None = None,
        backups_enabled: bool = False,
        labels: dict[str, str] | None = None,
        user_data: str | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
        dry_run: Literal[False] = False,
    ) -> Server: ...

    @overload
    def create(
        self,
        name: str,
        plan_id: int,
        os_id: int | None,
        location: str,
        *,
        snapshot_id: int | None = None,
        hostname: str | None = None,
        ssh_key_id: int | None = None,
        ssh_key_ids: Sequence[int] | None = None,
        backups_enabled: bool = False,
        labels: dict[str, str] | None = None,
        user_data: str | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
        dry_run: Literal[True],
    ) -> DryRun: ...

    def create(
        self,
        name: str,
        plan_id: int,
        os_id: int | None,
        location: str,
        *,
        snapshot_id: int | None = None,
        hostname: str | None = None,
        ssh_key_id: int | None = None,
        ssh_key_ids: Sequence[int] | None = None,
        backups_enabled: bool = False,
        labels: dict[str, str] | None = None,
        user_data: str | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
        dry_run: bool = False,
    ) -> Server | DryRun:
        """Order a server; with wait=True return it once provisioned (ActionFailed if that failed).
        With dry_run=True create nothing: the API checks the order as a create would and
        answers its prices (DryRun), or raises the error the create would. user_data: cloud-init
        user data (at most 64 KiB of UTF-8) run on first boot; the API never shows it again.
        ssh_key_id and ssh_key_ids: the keys installed for root (one key is sent as
        `ssh_key_id`, several as `ssh_key_ids`). From a snapshot: os_id None and `snapshot_id`
        one of your snapshots (or backups): the disk is a copy of it, the OS the snapshot's."""
        body = _core.server_body(
            name=name,
            plan_id=plan_id,
            os_id=os_id,
            snapshot_id=snapshot_id,
            location=location,
            hostname=hostname,
            ssh_key_id=ssh_key_id,
            ssh_key_ids=ssh_key_ids,
            backups_enabled=backups_enabled,
            labels=labels,
            user_data=user_data,
        )
        if dry_run:  # checked as the create would be; nothing is created, nothing to wait for
            params = {"dry_run": "true"}
            return DryRun.from_api(self._c.request("POST", "/api/v1/servers/", params=params, json=body))
        server = self._c.bind(Server, self._c.request("POST", "/api/v1/servers/", json=body))
        if not wait:
            return server
        assert server.action is not None
        self._c.actions.wait(server.action.id, timeout=timeout, on_poll=on_poll)
        return self.get(server.id)

    def update(
        self,
        server_id: int,
        *,
        name: str | None = None,
        hostname: str | None = None,
        backups_enabled: bool | None = None,
        labels: dict[str, str] | None = None,
    ) -> Server:
        """Change some fields (PATCH); those left None stay as they are. labels replaces the
        whole map ({} removes every label)."""
        body = _core.update_body(name=name, hostname=hostname, backups_enabled=backups_enabled, labels=labels)
        return self._c.bind(Server, self._c.request("PATCH", f"/api/v1/servers/{server_id}/", json=body))

    def replace(
        self,
        server_id: int,
        *,
        name: str,
        hostname: str,
        backups_enabled: bool,
        labels: dict[str, str] | None = None,
    ) -> Server:
        """Set every field (PUT); labels None keeps the server's labels, {} removes them."""
        body = _core.update_body(name=name, hostname=hostname, backups_enabled=backups_enabled, labels=labels)
        return self._c.bind(Server, self._c.request("PUT", f"/api/v1/servers/{server_id}/", json=body))

    def delete(self, server_id: int) -> None:
        self._c.request("DELETE", f"/api/v1/servers/{server_id}/")

    def start(
        self,
        server_id: int,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
    ) -> Action:
        return self._power(server_id, "start", wait, timeout, on_poll)

    def stop(
        self,
        server_id: int,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
    ) -> Action:
        return self._power(server_id, "stop", wait, timeout, on_poll)

    def reboot(
        self,
        server_id: int,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
    ) -> Action:
        return self._power(server_id, "reboot", wait, timeout, on_poll)

    def rebuild(
        self,
        server_id: int,
        *,
        os_id: int | None = None,
        snapshot_id: int | None = None,
        ssh_key_ids: Sequence[int] | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
    ) -> Action:
        """Reinstall the server from the OS image `os_id`, or restore one of your snapshots
        (or backups) onto it with `snapshot_id` (exactly one of the two): everything on its
        disk is erased (a restore puts the snapshot's back, and the server takes its OS);
        its id, addresses, hostname and plan stay. `ssh_key_ids`: the keys to install (None:
        the ones it has). With wait=True, return once done (ActionFailed if it failed)."""
        json = _core.rebuild_body(os_id, ssh_key_ids, snapshot_id)
        body = self._c.request("POST", f"/api/v1/servers/{server_id}/rebuild/", json=json)
        action = self._c.bind(Action, body["action"] | {"server_id": server_id})
        return action.wait(timeout=timeout, on_poll=on_poll) if wait else action

    def resize(
        self,
        server_id: int,
        plan_id: int,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
    ) -> Action:
        """Give a stopped server another plan (its vCPUs and memory; its disk only grows):
        the resize action, finished with `wait`. The server is stopped again afterwards."""
        body = self._c.request("POST", f"/api/v1/servers/{server_id}/resize/", json={"plan_id": plan_id})
        action = self._c.bind(Action, body["action"] | {"server_id": server_id})
        return action.wait(timeout=timeout, on_poll=on_poll) if wait else action

    def request_console(self, server_id: int) -> ConsoleTicket:
        """A single-use ticket to the running server's serial console: a WebSocket URL to
        connect to within 60 s (`vps servers console` attaches a terminal to it)."""
        body = self._c.request("POST", f"/api/v1/servers/{server_id}/console/")
        return self._c.bind(ConsoleTicket, body)

    def _power(self, server_id: int, verb: str, wait: bool, timeout: float, on_poll: OnPoll | None) -> Action:
        body = self._c.request("POST", f"/api/v1/servers/{server_id}/{verb}/")
        action = self._c.bind(Action, body["action"] | {"server_id": server_id})
        return action.wait(timeout=timeout, on_poll=on_poll) if wait else action

    def actions(self, server_id: int, *, page_size: int = 50) -> Iterator[Action]:
        return self._c.pages(f"/api/v1/servers/{server_id}/actions/", Action, page_size=page_size)


class Actions:
    def __init__(self, client: Client, base: str = "/api/v1") -> None:
        self._c, self._base = client, base

    def get(self, action_id: int) -> Action:
        return self._c.bind(Action, self._c.request("GET", f"{self._base}/actions/{action_id}/"))

    def wait(
        self, action_id: int, *, timeout: float = DEFAULT_WAIT_TIMEOUT, on_poll: OnPoll | None = None
    ) -> Action:
        """Wait until the action is over: on the event stream (its action.finished event) when
        the API has one, else (an older API, a connection that fails) polling with the
        client's backoff, as it does through an in-process transport (httpx.ASGITransport,
        Starlette's TestClient), which hands over no response before its end: streams never
        end. `on_poll` sees the action each time it is read."""
        deadline = monotonic() + timeout
        action = None
        # The stream is the token's account's (not the operators' view), read as it comes.
        if self._base == "/api/v1" and _core.streams_events(self._c._http):
            action = self._streamed(action_id, deadline, on_poll)
        if action is None:
            action = self._polled(action_id, max(0.0, deadline - monotonic()), on_poll)
        if not action.finished:
            raise ActionTimeout(action, timeout)
        if action.status == "error":
            raise ActionFailed(action)
        return action

    def _read(self, action_id: int, on_poll: OnPoll | None) -> Action:
        action = self.get(action_id)
        if on_poll is not None:
            on_poll(action)
        return action

    def _streamed(self, action_id: int, deadline: float, on_poll: OnPoll | None) -> Action | None:
        """The action once over, seen on the event stream; None if the stream could not be used
        or ended first, or the deadline passed (the caller then polls for what time is left)."""
        try:
            # From the newest event on (ids are in commit order): a finish committed later is on
            # the stream, one committed before is seen by the read once the stream is open.
            start = self._c.events.latest_id()
            read = min(deadline - monotonic(), _core.STREAM_READ_TIMEOUT)
            with self._c.events._open(
                types="action.finished", last_event_id=start, read_timeout=read
            ) as events:
                action = self._read(action_id, on_poll)
                if action.finished:
                    return action
                for event in events:  # None: a heartbeat, every 15 s
                    if event is not None and event.object.type == "action" and event.object.id == action_id:
                        return self._read(action_id, on_poll)
                    if monotonic() >= deadline:
                        break
        except (APIError, TransportError):
            return None
        return None

    def _polled(self, action_id: int, timeout: float, on_poll: OnPoll | None) -> Action:
        """The action read with the client's backoff until it is over or `timeout` has passed."""
        polling = Retrying(
            stop=stop_after_delay(timeout),
            wait=lambda state: self._c.backoff.delay(state.attempt_number),
            retry=retry_if_result(lambda action: not action.finished),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            sleep=time.sleep,
        )
        action: Action = polling(self._read, action_id, on_poll)
        return action


class Events:
    """Your account's events (README "Events"): the list, newest first, and the live stream."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def list(
        self, *, type: str | None = None, server_id: int | None = None, page_size: int = 50
    ) -> Iterator[Event]:
        return self._c.pages(_core.EVENTS_PATH, Event, page_size=page_size, type=type, server_id=server_id)

    def latest_id(self) -> int:
        """The id of your newest event (0: none yet): a stream opened later with it as
        `last_event_id` misses nothing that happens after this call."""
        return _core.newest_id(self._c.request("GET", _core.EVENTS_PATH, params=_core.list_params(1, 1)))

    def stream(
        self,
        *,
        types: Sequence[str] | str | None = None,
        server_id: int | None = None,
        last_event_id: int | None = None,
    ) -> Generator[Event, None]:
        """The events from now on (or after `last_event_id`), oldest first, as they happen, for
        as long as you iterate; only `types` (e.g. ["server.status_changed"]) and only
        `server_id`'s when given. A dropped connection is resumed after the last event given
        (Last-Event-ID), so none is missed or given twice; after `max_retries` failed
        reconnections in a row (with the client's backoff) the error is raised. Breaking out
        of the loop (or closing the iterator) hangs up. Needs a network transport: an
        in-process one (httpx.ASGITransport) gives nothing before the stream's end."""
        last, failures = last_event_id, 0
        while True:
            try:
                with self._open(types=types, server_id=server_id, last_event_id=last) as events:
                    failures = 0
                    for event in events:
                        if event is not None:
                            last = event.id
                            yield event
                failures = 1  # the API closed it (it is stopping, say): back after a pause
            except (APIError, TransportError) as exc:
                failures += 1
                if failures > self._c.max_retries or not _core.should_retry("GET", exc, keyed=False):
                    raise
            time.sleep(self._c.backoff.delay(failures))

    @contextmanager
    def _open(
        self,
        *,
        types: Sequence[str] | str | None = None,
        server_id: int | None = None,
        last_event_id: int | None = None,
        read_timeout: float | None = None,
    ) -> Iterator[Iterator[Event | None]]:
        """One connection to the stream, open (its answer checked) on entering: the events it
        brings, and None for each heartbeat (a waiter looks at its clock then), not resumed
        when it drops (stream() does that). APIError when the API refuses it (404: an API
        without events), TransportError when it cannot be reached or drops. `read_timeout`:
        the longest wait for a byte (the heartbeats come every 15 s)."""
        url = self._c.base_url + _core.STREAM_PATH
        try:
            with self._c._http.stream(
                "GET",
                url,
                params=_core.stream_params(types, server_id),
                headers=_core.stream_headers(self._c._headers, last_event_id),
                timeout=_core.stream_timeout(self._c.timeout, read_timeout),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                _core.check_event_stream(response)
                yield self._events(response)
        except httpx.TransportError as exc:
            raise _core.transport_error(exc, "GET", url, 1) from exc

    def _events(self, response: httpx.Response) -> Iterator[Event | None]:
        lines = _core.SSELines()
        for line in response.iter_lines():
            if line.startswith(":"):
                yield None
            elif (data := lines.feed(line)) is not None:
                yield self._c.bind(Event, data)


class Catalog:
    """Plans, operating systems or locations: read-only lists."""

    def __init__(self, client: Client, path: str, cls: type[Any]) -> None:
        self._c, self._path, self._cls = client, path, cls

    def list(self) -> list[Any]:
        return [item for item in self._c.pages(self._path, self._cls)]


class Snapshots:
    """Your snapshots and backups (kind "snapshot" or "backup")."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def list(
        self, *, server_id: int | None = None, kind: str | None = None, page_size: int = 50
    ) -> Iterator[Snapshot]:
        return self._c.pages(
            "/api/v1/snapshots/", Snapshot, page_size=page_size, server_id=server_id, kind=kind
        )

    def get(self, snapshot_id: int) -> Snapshot:
        return self._c.bind(Snapshot, self._c.request("GET", f"/api/v1/snapshots/{snapshot_id}/"))

    def create(
        self,
        server_id: int,
        name: str,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
    ) -> Snapshot:
        """Take a snapshot of the server; with `wait`, return it once taken (ActionFailed if
        it could not be), else at once, status "creating", with the action taking it."""
        body = self._c.request("POST", f"/api/v1/servers/{server_id}/snapshots/", json={"name": name})
        if not wait:
            return self._c.bind(Snapshot, body["snapshot"] | {"action": body["action"]})
        self._c.actions.wait(body["action"]["id"], timeout=timeout, on_poll=on_poll)
        return self.get(body["snapshot"]["id"])

    def delete(self, snapshot_id: int) -> None:
        self._c.request("DELETE", f"/api/v1/snapshots/{snapshot_id}/")


class Webhooks:
    """Your webhooks: URLs your events are POSTed to, signed (README "Webhooks")."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def list(self, *, page_size: int = 50) -> Iterator[Webhook]:
        return self._c.pages("/api/v1/webhooks/", Webhook, page_size=page_size)

    def get(self, webhook_id: int) -> Webhook:
        return self._c.bind(Webhook, self._c.request("GET", f"/api/v1/webhooks/{webhook_id}/"))

    def create(
        self,
        url: str,
        *,
        event_types: Sequence[str] | None = None,
        enabled: bool = True,
        description: str = "",
    ) -> Webhook:
        """A new webhook (of every event type unless `event_types`); its secret is in
        `.secret`, this once."""
        body: dict[str, Any] = {"url": url, "enabled": enabled, "description": description}
        if event_types is not None:
            body["event_types"] = list(event_types)
        return self._c.bind(Webhook, self._c.request("POST", "/api/v1/webhooks/", json=body))

    def update(
        self,
        webhook_id: int,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        enabled: bool | None = None,
        description: str | None = None,
    ) -> Webhook:
        """Change what is given (at least one)."""
        given = {"url": url, "enabled": enabled, "description": description}
        body: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if event_types is not None:
            body["event_types"] = list(event_types)
        path = f"/api/v1/webhooks/{webhook_id}/"
        return self._c.bind(Webhook, self._c.request("PATCH", path, json=body))

    def delete(self, webhook_id: int) -> None:
        self._c.request("DELETE", f"/api/v1/webhooks/{webhook_id}/")

    def deliveries(self, webhook_id: int, *, page_size: int = 50) -> Iterator[WebhookDelivery]:
        """Its deliveries, newest first."""
        return self._c.pages(
            f"/api/v1/webhooks/{webhook_id}/deliveries/", WebhookDelivery, page_size=page_size
        )

    def redeliver(self, webhook_id: int, delivery_id: int) -> WebhookDelivery:
        """Send a delivery's event again: a new delivery, after the webhook's pending ones."""
        path = f"/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver/"
        return self._c.bind(WebhookDelivery, self._c.request("POST", path))


class SshKeys:
    def __init__(self, client: Client) -> None:
        self._c = client

    def list(self, *, page_size: int = 50) -> Iterator[SshKey]:
        return self._c.pages("/api/v1/ssh-keys/", SshKey, page_size=page_size)

    def get(self, key_id: int) -> SshKey:
        return self._c.bind(SshKey, self._c.request("GET", f"/api/v1/ssh-keys/{key_id}/"))

    def create(self, name: str, public_key: str) -> SshKey:
        body = {"name": name, "public_key": public_key}
        return self._c.bind(SshKey, self._c.request("POST", "/api/v1/ssh-keys/", json=body))

    def delete(self, key_id: int) -> None:
        self._c.request("DELETE", f"/api/v1/ssh-keys/{key_id}/")


class Tokens:
    """Your account's API tokens."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def list(self, *, page_size: int = 50) -> Iterator[Token]:
        """Without their secrets."""
        return self._c.pages("/api/v1/tokens/", Token, page_size=page_size)

    def create(self, name: str, *, scope: str = "write", expires_in_days: int | None = None) -> Token:
        """A new token, at most this client's own scope; its secret is in `.token`, this once."""
        body: dict[str, Any] = {"name": name, "scope": scope}
        if expires_in_days is not None:
            body["expires_in_days"] = expires_in_days
        return self._c.bind(Token, self._c.request("POST", "/api/v1/tokens/", json=body))

    def delete(self, token_id: int) -> None:
        """Revoke a token: it stops working at once."""
        self._c.request("DELETE", f"/api/v1/tokens/{token_id}/")


class AccountAPI:
    def __init__(self, client: Client) -> None:
        self._c = client

    def get(self) -> Account:
        return self._c.bind(Account, self._c.request("GET", "/api/v1/account/"))

    def ledger(self, *, page_size: int = 50) -> Iterator[LedgerEntry]:
        """Newest first."""
        return self._c.pages("/api/v1/account/ledger/", LedgerEntry, page_size=page_size)


class Admin:
    """The operators' API (/api/v1/admin/); needs a token with the admin scope."""

    def __init__(self, client: Client) -> None:
        self._c = client
        self.actions = Actions(client, base="/api/v1/admin")  # any account's actions

    def accounts(self, *, page_size: int = 50) -> Iterator[Account]:
        return self._c.pages("/api/v1/admin/accounts/", Account, page_size=page_size)

    def account(self, account_id: int) -> Account:
        return self._c.bind(Account, self._c.request("GET", f"/api/v1/admin/accounts/{account_id}/"))

    def ledger(self, account_id: int, *, page_size: int = 50) -> Iterator[LedgerEntry]:
        return self._c.pages(f"/api/v1/admin/accounts/{account_id}/ledger/", LedgerEntry, page_size=page_size)

    def credit(
        self, account_id: int, amount: Decimal | str, reason: str, *, kind: str | None = None
    ) -> LedgerEntry:
        """Add (or, negative, take away) credit; `amount` at most two decimals."""
        body = _core.credit_body(amount, reason, kind)
        path = f"/api/v1/admin/accounts/{account_id}/credit/"
        return self._c.bind(LedgerEntry, self._c.request("POST", path, json=body))

    def limits(
        self, account_id: int, *, servers: int | str | None = None, ssh_keys: int | str | None = None
    ) -> dict[str, Any]:
        """An account's quotas ({"servers": {"limit", "used", "override"}, "ssh_keys": ...});
        with servers or ssh_keys, set them first (a number, or "default")."""
        path = f"/api/v1/admin/accounts/{account_id}/limits/"
        body = _core.limits_body(servers, ssh_keys)
        if body:
            return dict(self._c.request("PATCH", path, json=body))
        return dict(self._c.request("GET", path))

    def suspend(
        self,
        server_id: int,
        reason: str | None = None,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
    ) -> ActionData | None:
        """Suspend any account's server: the action queued (None if it was suspended already);
        with wait=True, that action once over."""
        path = f"/api/v1/admin/servers/{server_id}/suspend/"
        body = self._c.request("POST", path, json=_core.reason_body(reason))
        return self._outcome(body["action"], server_id, wait, timeout) if body["action"] else None

    def unsuspend(
        self,
        server_id: int,
        reason: str | None = None,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
    ) -> ActionData:
        """Lift a suspension: the start action queued; with wait=True, that action once over."""
        path = f"/api/v1/admin/servers/{server_id}/unsuspend/"
        body = self._c.request("POST", path, json=_core.reason_body(reason))
        return self._outcome(body["action"], server_id, wait, timeout)

    def _outcome(self, ref: dict[str, Any], server_id: int, wait: bool, timeout: float) -> ActionData:
        # Not bound: an Action's wait() asks the customer API, where another account's action is 404.
        if wait:
            done = self.actions.wait(ref["id"], timeout=timeout)
            return ActionData.from_api(done.raw)
        return ActionData.from_api(ref | {"server_id": server_id})
