"""The asynchronous client, `AsyncClient`: vpsorg.client's API with each call awaited.

This file is the single source of both clients: scripts/unasync.py (`make sdk`) writes the
synchronous one, vpsorg/client/sync.py, from it (AsyncClient -> Client, `await` dropped, ...),
and `make lint` checks that file is current. Edit here, never there.
"""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from time import monotonic
from typing import Any, Literal, TypeVar, overload

import httpx
from tenacity import AsyncRetrying, retry_if_exception, retry_if_result, stop_after_attempt, stop_after_delay

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
OnPoll = Callable[["AsyncAction"], None]


@dataclass(frozen=True)
class AsyncAction(ActionData):
    """An action, bound to the client that read it: `wait()` until it is over."""

    _client: "AsyncClient | None" = field(default=None, repr=False, compare=False)

    async def wait(
        self, timeout: float = DEFAULT_WAIT_TIMEOUT, on_poll: OnPoll | None = None
    ) -> "AsyncAction":
        """Wait until the action ends (on the event stream, else polling: see actions.wait);
        ActionFailed if it failed, ActionTimeout if it is not over within `timeout` seconds."""
        assert self._client is not None
        return await self._client.actions.wait(self.id, timeout=timeout, on_poll=on_poll)

    async def refresh(self) -> "AsyncAction":
        assert self._client is not None
        return await self._client.actions.get(self.id)


@dataclass(frozen=True)
class AsyncServer(ServerData):
    """A server, bound to the client that read it."""

    _client: "AsyncClient | None" = field(default=None, repr=False, compare=False)

    @property
    def _c(self) -> "AsyncClient":
        assert self._client is not None
        return self._client

    async def refresh(self) -> "AsyncServer":
        return await self._c.servers.get(self.id)

    async def start(self, *, wait: bool = False, timeout: float = DEFAULT_WAIT_TIMEOUT) -> AsyncAction:
        return await self._c.servers.start(self.id, wait=wait, timeout=timeout)

    async def stop(self, *, wait: bool = False, timeout: float = DEFAULT_WAIT_TIMEOUT) -> AsyncAction:
        return await self._c.servers.stop(self.id, wait=wait, timeout=timeout)

    async def reboot(self, *, wait: bool = False, timeout: float = DEFAULT_WAIT_TIMEOUT) -> AsyncAction:
        return await self._c.servers.reboot(self.id, wait=wait, timeout=timeout)

    async def rebuild(
        self,
        *,
        os_id: int | None = None,
        snapshot_id: int | None = None,
        ssh_key_ids: Sequence[int] | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
    ) -> AsyncAction:
        return await self._c.servers.rebuild(
            self.id, os_id=os_id, snapshot_id=snapshot_id, ssh_key_ids=ssh_key_ids, wait=wait, timeout=timeout
        )

    async def resize(
        self, plan_id: int, *, wait: bool = False, timeout: float = DEFAULT_WAIT_TIMEOUT
    ) -> AsyncAction:
        """Give the server (stopped) another plan; see servers.resize."""
        return await self._c.servers.resize(self.id, plan_id, wait=wait, timeout=timeout)

    async def update(self, **fields: Any) -> "AsyncServer":
        return await self._c.servers.update(self.id, **fields)

    async def request_console(self) -> ConsoleTicket:
        """A single-use ticket to this server's serial console (see Servers.request_console)."""
        return await self._c.servers.request_console(self.id)

    async def delete(self) -> None:
        await self._c.servers.delete(self.id)

    def actions(self) -> AsyncIterator[AsyncAction]:
        return self._c.servers.actions(self.id)


class AsyncClient:
    """The VPS.org server API.

    Every call is retried on connection errors, 5xx and 429 answers, with `backoff`
    (honouring Retry-After) up to `max_retries` times: GET, PUT and DELETE are idempotent,
    and each POST carries an Idempotency-Key (a new one per call, the same for its retries),
    so the API acts on it once however often it arrives. `http` replaces the underlying
    httpx.AsyncClient (tests pass one bound to the app in-process)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http: httpx.AsyncClient | None = None,
        max_retries: int = 3,
        backoff: Backoff | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self._headers = _core.headers(token)
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self.servers = AsyncServers(self)
        self.actions = AsyncActions(self)
        self.plans = AsyncCatalog(self, "/api/v1/plans/", Plan)
        self.os = AsyncCatalog(self, "/api/v1/os/", OperatingSystem)
        self.locations = AsyncCatalog(self, "/api/v1/locations/", Location)
        self.ssh_keys = AsyncSshKeys(self)
        self.snapshots = AsyncSnapshots(self)
        self.webhooks = AsyncWebhooks(self)
        self.account = AsyncAccountAPI(self)
        self.tokens = AsyncTokens(self)
        self.admin = AsyncAdmin(self)
        self.events = AsyncEvents(self)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> Any:
        """One call: the response's JSON (None for 204), or an APIError / TransportError."""
        key = _core.idempotency_header(method)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=_core.retry_wait(self.backoff),
            retry=retry_if_exception(lambda exc: _core.should_retry(method, exc, keyed=bool(key))),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    response = await self._http.request(
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

    async def pages(
        self, path: str, cls: type[M], *, page_size: int = 50, **filters: Any
    ) -> AsyncIterator[M]:
        """Every item of a list, fetching the next page only when the last one is used up."""
        page = 1
        while True:
            body = await self.request("GET", path, params=_core.list_params(page, page_size, **filters))
            for item in body["results"]:
                yield self.bind(cls, item)
            if not body.get("next"):
                return
            page += 1


class AsyncServers:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    def list(
        self,
        *,
        status: str | None = None,
        location: str | None = None,
        label_selector: str | None = None,
        page_size: int = 50,
    ) -> AsyncIterator[AsyncServer]:
        return self._c.pages(
            "/api/v1/servers/",
            AsyncServer,
            page_size=page_size,
            status=status,
            location=location,
            label_selector=label_selector,
        )

    async def get(self, server_id: int) -> AsyncServer:
        return self._c.bind(AsyncServer, await self._c.request("GET", f"/api/v1/servers/{server_id}/"))

    @overload
    async def create(
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
    ) -> AsyncServer: ...

    @overload
    async def create(
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

    async def create(
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
    ) -> AsyncServer | DryRun:
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
            return DryRun.from_api(
                await self._c.request("POST", "/api/v1/servers/", params=params, json=body)
            )
        server = self._c.bind(AsyncServer, await self._c.request("POST", "/api/v1/servers/", json=body))
        if not wait:
            return server
        assert server.action is not None
        await self._c.actions.wait(server.action.id, timeout=timeout, on_poll=on_poll)
        return await self.get(server.id)

    async def update(
        self,
        server_id: int,
        *,
        name: str | None = None,
        hostname: str | None = None,
        backups_enabled: bool | None = None,
        labels: dict[str, str] | None = None,
    ) -> AsyncServer:
        """Change some fields (PATCH); those left None stay as they are. labels replaces the
        whole map ({} removes every label)."""
        body = _core.update_body(name=name, hostname=hostname, backups_enabled=backups_enabled, labels=labels)
        return self._c.bind(
            AsyncServer, await self._c.request("PATCH", f"/api/v1/servers/{server_id}/", json=body)
        )

    async def replace(
        self,
        server_id: int,
        *,
        name: str,
        hostname: str,
        backups_enabled: bool,
        labels: dict[str, str] | None = None,
    ) -> AsyncServer:
        """Set every field (PUT); labels None keeps the server's labels, {} removes them."""
        body = _core.update_body(name=name, hostname=hostname, backups_enabled=backups_enabled, labels=labels)
        return self._c.bind(
            AsyncServer, await self._c.request("PUT", f"/api/v1/servers/{server_id}/", json=body)
        )

    async def delete(self, server_id: int) -> None:
        await self._c.request("DELETE", f"/api/v1/servers/{server_id}/")

    async def start(
        self,
        server_id: int,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
    ) -> AsyncAction:
        return await self._power(server_id, "start", wait, timeout, on_poll)

    async def stop(
        self,
        server_id: int,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
    ) -> AsyncAction:
        return await self._power(server_id, "stop", wait, timeout, on_poll)

    async def reboot(
        self,
        server_id: int,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
    ) -> AsyncAction:
        return await self._power(server_id, "reboot", wait, timeout, on_poll)

    async def rebuild(
        self,
        server_id: int,
        *,
        os_id: int | None = None,
        snapshot_id: int | None = None,
        ssh_key_ids: Sequence[int] | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
    ) -> AsyncAction:
        """Reinstall the server from the OS image `os_id`, or restore one of your snapshots
        (or backups) onto it with `snapshot_id` (exactly one of the two): everything on its
        disk is erased (a restore puts the snapshot's back, and the server takes its OS);
        its id, addresses, hostname and plan stay. `ssh_key_ids`: the keys to install (None:
        the ones it has). With wait=True, return once done (ActionFailed if it failed)."""
        json = _core.rebuild_body(os_id, ssh_key_ids, snapshot_id)
        body = await self._c.request("POST", f"/api/v1/servers/{server_id}/rebuild/", json=json)
        action = self._c.bind(AsyncAction, body["action"] | {"server_id": server_id})
        return await action.wait(timeout=timeout, on_poll=on_poll) if wait else action

    async def resize(
        self,
        server_id: int,
        plan_id: int,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_poll: OnPoll | None = None,
    ) -> AsyncAction:
        """Give a stopped server another plan (its vCPUs and memory; its disk only grows):
        the resize action, finished with `wait`. The server is stopped again afterwards."""
        body = await self._c.request(
            "POST", f"/api/v1/servers/{server_id}/resize/", json={"plan_id": plan_id}
        )
        action = self._c.bind(AsyncAction, body["action"] | {"server_id": server_id})
        return await action.wait(timeout=timeout, on_poll=on_poll) if wait else action

    async def request_console(self, server_id: int) -> ConsoleTicket:
        """A single-use ticket to the running server's serial console: a WebSocket URL to
        connect to within 60 s (`vps servers console` attaches a terminal to it)."""
        body = await self._c.request("POST", f"/api/v1/servers/{server_id}/console/")
        return self._c.bind(ConsoleTicket, body)

    async def _power(
        self, server_id: int, verb: str, wait: bool, timeout: float, on_poll: OnPoll | None
    ) -> AsyncAction:
        body = await self._c.request("POST", f"/api/v1/servers/{server_id}/{verb}/")
        action = self._c.bind(AsyncAction, body["action"] | {"server_id": server_id})
        return await action.wait(timeout=timeout, on_poll=on_poll) if wait else action

    def actions(self, server_id: int, *, page_size: int = 50) -> AsyncIterator[AsyncAction]:
        return self._c.pages(f"/api/v1/servers/{server_id}/actions/", AsyncAction, page_size=page_size)


class AsyncActions:
    def __init__(self, client: AsyncClient, base: str = "/api/v1") -> None:
        self._c, self._base = client, base

    async def get(self, action_id: int) -> AsyncAction:
        return self._c.bind(AsyncAction, await self._c.request("GET", f"{self._base}/actions/{action_id}/"))

    async def wait(
        self, action_id: int, *, timeout: float = DEFAULT_WAIT_TIMEOUT, on_poll: OnPoll | None = None
    ) -> AsyncAction:
        """Wait until the action is over: on the event stream (its action.finished event) when
        the API has one, else (an older API, a connection that fails) polling with the
        client's backoff, as it does through an in-process transport (httpx.ASGITransport,
        Starlette's TestClient), which hands over no response before its end: streams never
        end. `on_poll` sees the action each time it is read."""
        deadline = monotonic() + timeout
        action = None
        # The stream is the token's account's (not the operators' view), read as it comes.
        if self._base == "/api/v1" and _core.streams_events(self._c._http):
            action = await self._streamed(action_id, deadline, on_poll)
        if action is None:
            action = await self._polled(action_id, max(0.0, deadline - monotonic()), on_poll)
        if not action.finished:
            raise ActionTimeout(action, timeout)
        if action.status == "error":
            raise ActionFailed(action)
        return action

    async def _read(self, action_id: int, on_poll: OnPoll | None) -> AsyncAction:
        action = await self.get(action_id)
        if on_poll is not None:
            on_poll(action)
        return action

    async def _streamed(self, action_id: int, deadline: float, on_poll: OnPoll | None) -> AsyncAction | None:
        """The action once over, seen on the event stream; None if the stream could not be used
        or ended first, or the deadline passed (the caller then polls for what time is left)."""
        try:
            # From the newest event on (ids are in commit order): a finish committed later is on
            # the stream, one committed before is seen by the read once the stream is open.
            start = await self._c.events.latest_id()
            read = min(deadline - monotonic(), _core.STREAM_READ_TIMEOUT)
            async with self._c.events._open(
                types="action.finished", last_event_id=start, read_timeout=read
            ) as events:
                action = await self._read(action_id, on_poll)
                if action.finished:
                    return action
                async for event in events:  # None: a heartbeat, every 15 s
                    if event is not None and event.object.type == "action" and event.object.id == action_id:
                        return await self._read(action_id, on_poll)
                    if monotonic() >= deadline:
                        break
        except (APIError, TransportError):
            return None
        return None

    async def _polled(self, action_id: int, timeout: float, on_poll: OnPoll | None) -> AsyncAction:
        """The action read with the client's backoff until it is over or `timeout` has passed."""
        polling = AsyncRetrying(
            stop=stop_after_delay(timeout),
            wait=lambda state: self._c.backoff.delay(state.attempt_number),
            retry=retry_if_result(lambda action: not action.finished),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            sleep=asyncio.sleep,
        )
        action: AsyncAction = await polling(self._read, action_id, on_poll)
        return action


class AsyncEvents:
    """Your account's events (README "Events"): the list, newest first, and the live stream."""

    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    def list(
        self, *, type: str | None = None, server_id: int | None = None, page_size: int = 50
    ) -> AsyncIterator[Event]:
        return self._c.pages(_core.EVENTS_PATH, Event, page_size=page_size, type=type, server_id=server_id)

    async def latest_id(self) -> int:
        """The id of your newest event (0: none yet): a stream opened later with it as
        `last_event_id` misses nothing that happens after this call."""
        return _core.newest_id(
            await self._c.request("GET", _core.EVENTS_PATH, params=_core.list_params(1, 1))
        )

    async def stream(
        self,
        *,
        types: Sequence[str] | str | None = None,
        server_id: int | None = None,
        last_event_id: int | None = None,
    ) -> AsyncGenerator[Event, None]:
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
                async with self._open(types=types, server_id=server_id, last_event_id=last) as events:
                    failures = 0
                    async for event in events:
                        if event is not None:
                            last = event.id
                            yield event
                failures = 1  # the API closed it (it is stopping, say): back after a pause
            except (APIError, TransportError) as exc:
                failures += 1
                if failures > self._c.max_retries or not _core.should_retry("GET", exc, keyed=False):
                    raise
            await asyncio.sleep(self._c.backoff.delay(failures))

    @asynccontextmanager
    async def _open(
        self,
        *,
        types: Sequence[str] | str | None = None,
        server_id: int | None = None,
        last_event_id: int | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[AsyncIterator[Event | None]]:
        """One connection to the stream, open (its answer checked) on entering: the events it
        brings, and None for each heartbeat (a waiter looks at its clock then), not resumed
        when it drops (stream() does that). APIError when the API refuses it (404: an API
        without events), TransportError when it cannot be reached or drops. `read_timeout`:
        the longest wait for a byte (the heartbeats come every 15 s)."""
        url = self._c.base_url + _core.STREAM_PATH
        try:
            async with self._c._http.stream(
                "GET",
                url,
                params=_core.stream_params(types, server_id),
                headers=_core.stream_headers(self._c._headers, last_event_id),
                timeout=_core.stream_timeout(self._c.timeout, read_timeout),
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_from_response(response)
                _core.check_event_stream(response)
                yield self._events(response)
        except httpx.TransportError as exc:
            raise _core.transport_error(exc, "GET", url, 1) from exc

    async def _events(self, response: httpx.Response) -> AsyncIterator[Event | None]:
        lines = _core.SSELines()
        async for line in response.aiter_lines():
            if line.startswith(":"):
                yield None
            elif (data := lines.feed(line)) is not None:
                yield self._c.bind(Event, data)


class AsyncCatalog:
    """Plans, operating systems or locations: read-only lists."""

    def __init__(self, client: AsyncClient, path: str, cls: type[Any]) -> None:
        self._c, self._path, self._cls = client, path, cls

    async def list(self) -> list[Any]:
        return [item async for item in self._c.pages(self._path, self._cls)]


class AsyncSnapshots:
    """Your snapshots and backups (kind "snapshot" or "backup")."""

    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    def list(
        self, *, server_id: int | None = None, kind: str | None = None, page_size: int = 50
    ) -> AsyncIterator[Snapshot]:
        return self._c.pages(
            "/api/v1/snapshots/", Snapshot, page_size=page_size, server_id=server_id, kind=kind
        )

    async def get(self, snapshot_id: int) -> Snapshot:
        return self._c.bind(Snapshot, await self._c.request("GET", f"/api/v1/snapshots/{snapshot_id}/"))

    async def create(
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
        body = await self._c.request("POST", f"/api/v1/servers/{server_id}/snapshots/", json={"name": name})
        if not wait:
            return self._c.bind(Snapshot, body["snapshot"] | {"action": body["action"]})
        await self._c.actions.wait(body["action"]["id"], timeout=timeout, on_poll=on_poll)
        return await self.get(body["snapshot"]["id"])

    async def delete(self, snapshot_id: int) -> None:
        await self._c.request("DELETE", f"/api/v1/snapshots/{snapshot_id}/")


class AsyncWebhooks:
    """Your webhooks: URLs your events are POSTed to, signed (README "Webhooks")."""

    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    def list(self, *, page_size: int = 50) -> AsyncIterator[Webhook]:
        return self._c.pages("/api/v1/webhooks/", Webhook, page_size=page_size)

    async def get(self, webhook_id: int) -> Webhook:
        return self._c.bind(Webhook, await self._c.request("GET", f"/api/v1/webhooks/{webhook_id}/"))

    async def create(
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
        return self._c.bind(Webhook, await self._c.request("POST", "/api/v1/webhooks/", json=body))

    async def update(
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
        return self._c.bind(Webhook, await self._c.request("PATCH", path, json=body))

    async def delete(self, webhook_id: int) -> None:
        await self._c.request("DELETE", f"/api/v1/webhooks/{webhook_id}/")

    def deliveries(self, webhook_id: int, *, page_size: int = 50) -> AsyncIterator[WebhookDelivery]:
        """Its deliveries, newest first."""
        return self._c.pages(
            f"/api/v1/webhooks/{webhook_id}/deliveries/", WebhookDelivery, page_size=page_size
        )

    async def redeliver(self, webhook_id: int, delivery_id: int) -> WebhookDelivery:
        """Send a delivery's event again: a new delivery, after the webhook's pending ones."""
        path = f"/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver/"
        return self._c.bind(WebhookDelivery, await self._c.request("POST", path))


class AsyncSshKeys:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    def list(self, *, page_size: int = 50) -> AsyncIterator[SshKey]:
        return self._c.pages("/api/v1/ssh-keys/", SshKey, page_size=page_size)

    async def get(self, key_id: int) -> SshKey:
        return self._c.bind(SshKey, await self._c.request("GET", f"/api/v1/ssh-keys/{key_id}/"))

    async def create(self, name: str, public_key: str) -> SshKey:
        body = {"name": name, "public_key": public_key}
        return self._c.bind(SshKey, await self._c.request("POST", "/api/v1/ssh-keys/", json=body))

    async def delete(self, key_id: int) -> None:
        await self._c.request("DELETE", f"/api/v1/ssh-keys/{key_id}/")


class AsyncTokens:
    """Your account's API tokens."""

    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    def list(self, *, page_size: int = 50) -> AsyncIterator[Token]:
        """Without their secrets."""
        return self._c.pages("/api/v1/tokens/", Token, page_size=page_size)

    async def create(self, name: str, *, scope: str = "write", expires_in_days: int | None = None) -> Token:
        """A new token, at most this client's own scope; its secret is in `.token`, this once."""
        body: dict[str, Any] = {"name": name, "scope": scope}
        if expires_in_days is not None:
            body["expires_in_days"] = expires_in_days
        return self._c.bind(Token, await self._c.request("POST", "/api/v1/tokens/", json=body))

    async def delete(self, token_id: int) -> None:
        """Revoke a token: it stops working at once."""
        await self._c.request("DELETE", f"/api/v1/tokens/{token_id}/")


class AsyncAccountAPI:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def get(self) -> Account:
        return self._c.bind(Account, await self._c.request("GET", "/api/v1/account/"))

    def ledger(self, *, page_size: int = 50) -> AsyncIterator[LedgerEntry]:
        """Newest first."""
        return self._c.pages("/api/v1/account/ledger/", LedgerEntry, page_size=page_size)


class AsyncAdmin:
    """The operators' API (/api/v1/admin/); needs a token with the admin scope."""

    def __init__(self, client: AsyncClient) -> None:
        self._c = client
        self.actions = AsyncActions(client, base="/api/v1/admin")  # any account's actions

    def accounts(self, *, page_size: int = 50) -> AsyncIterator[Account]:
        return self._c.pages("/api/v1/admin/accounts/", Account, page_size=page_size)

    async def account(self, account_id: int) -> Account:
        return self._c.bind(Account, await self._c.request("GET", f"/api/v1/admin/accounts/{account_id}/"))

    def ledger(self, account_id: int, *, page_size: int = 50) -> AsyncIterator[LedgerEntry]:
        return self._c.pages(f"/api/v1/admin/accounts/{account_id}/ledger/", LedgerEntry, page_size=page_size)

    async def credit(
        self, account_id: int, amount: Decimal | str, reason: str, *, kind: str | None = None
    ) -> LedgerEntry:
        """Add (or, negative, take away) credit; `amount` at most two decimals."""
        body = _core.credit_body(amount, reason, kind)
        path = f"/api/v1/admin/accounts/{account_id}/credit/"
        return self._c.bind(LedgerEntry, await self._c.request("POST", path, json=body))

    async def limits(
        self, account_id: int, *, servers: int | str | None = None, ssh_keys: int | str | None = None
    ) -> dict[str, Any]:
        """An account's quotas ({"servers": {"limit", "used", "override"}, "ssh_keys": ...});
        with servers or ssh_keys, set them first (a number, or "default")."""
        path = f"/api/v1/admin/accounts/{account_id}/limits/"
        body = _core.limits_body(servers, ssh_keys)
        if body:
            return dict(await self._c.request("PATCH", path, json=body))
        return dict(await self._c.request("GET", path))

    async def suspend(
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
        body = await self._c.request("POST", path, json=_core.reason_body(reason))
        return await self._outcome(body["action"], server_id, wait, timeout) if body["action"] else None

    async def unsuspend(
        self,
        server_id: int,
        reason: str | None = None,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
    ) -> ActionData:
        """Lift a suspension: the start action queued; with wait=True, that action once over."""
        path = f"/api/v1/admin/servers/{server_id}/unsuspend/"
        body = await self._c.request("POST", path, json=_core.reason_body(reason))
        return await self._outcome(body["action"], server_id, wait, timeout)

    async def _outcome(self, ref: dict[str, Any], server_id: int, wait: bool, timeout: float) -> ActionData:
        # Not bound: an Action's wait() asks the customer API, where another account's action is 404.
        if wait:
            done = await self.actions.wait(ref["id"], timeout=timeout)
            return ActionData.from_api(done.raw)
        return ActionData.from_api(ref | {"server_id": server_id})
