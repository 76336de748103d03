"""The events hub: one per API process, between the events table and the open streams.

It reads each new event once and hands it to the streams subscribed to its account, so a
thousand streams cost one query per wake-up, not a thousand. It wakes on PostgreSQL's
NOTIFY `vpsorg_events` (sent at COMMIT by the events' trigger: migration 2026_12_07_events)
or, on SQLite, every VPSORG_EVENT_POLL_SECONDS; on PostgreSQL it also reads every few
seconds, should a notification be lost with its connection. The table stays the truth: a
stream catches up from the database when it starts and whenever it fell behind
(`Subscription.lagged`).

No event is skipped: the hub reads `id > last` in order and hands every row it read to the
streams subscribed by then, with no await between the two; a stream subscribes before it
reads its backlog, so an event is either in that backlog or read by the hub later.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterator

import psycopg
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg.db import is_sqlite
from vpsorg.events import service
from vpsorg.events.service import EventRow

log = logging.getLogger("vpsorg.events")

CHANNEL = "vpsorg_events"
SAFETY_POLL_SECONDS = 5.0  # PostgreSQL: read even without a notification this often
RECONNECT_SECONDS = 1.0  # PostgreSQL: the listener's pause before it connects again


class Subscription:
    """One stream's inbox: the account's new events, in order, until it falls behind."""

    def __init__(self, account_id: int, limit: int) -> None:
        self.account_id = account_id
        self.limit = limit
        self.rows: deque[EventRow] = deque()
        self.lagged = False  # more than `limit` waited: the stream reads the table instead
        self.ready = asyncio.Event()

    def push(self, row: EventRow) -> None:
        if self.lagged:
            return
        if len(self.rows) >= self.limit:
            self.rows.clear()
            self.lagged = True
        else:
            self.rows.append(row)
        self.ready.set()

    async def wait(self) -> None:
        await self.ready.wait()

    def take(self) -> list[EventRow]:
        """What has arrived (and clears `lagged`: the caller reads the table first)."""
        rows = list(self.rows)
        self.rows.clear()
        self.lagged = False
        self.ready.clear()
        return rows


class Hub:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        database_url: str,
        *,
        poll_seconds: float,
        queue_limit: int = 1000,
    ) -> None:
        self.sessions = sessions
        self.database_url = database_url
        self.poll_seconds = poll_seconds
        self.queue_limit = queue_limit
        self.last = 0
        self._subscriptions: dict[int, set[Subscription]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def streams(self) -> int:
        return sum(len(subs) for subs in self._subscriptions.values())

    async def start(self) -> None:
        async with self.sessions() as session:
            self.last = await service.latest_id(session)
        self._tasks.append(asyncio.create_task(self._read_loop(), name="events-hub"))
        if not is_sqlite(self.database_url):
            self._tasks.append(asyncio.create_task(self._listen_loop(), name="events-listen"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    @contextlib.contextmanager
    def subscribe(self, account_id: int) -> Iterator[Subscription]:
        """The account's new events from now on, while the `with` block lasts."""
        subscription = Subscription(account_id, self.queue_limit)
        self._subscriptions.setdefault(account_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscriptions[account_id]
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscriptions[account_id]

    def _interval(self) -> float:
        return self.poll_seconds if is_sqlite(self.database_url) else SAFETY_POLL_SECONDS

    async def _read_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval())
            self._wake.clear()
            try:
                await self.read()
            except Exception:  # the database away for a moment: the next round tries again
                log.warning("reading new events failed", exc_info=True)

    async def read(self) -> None:
        """Read the events after `last` and hand each to its account's subscriptions."""
        while True:
            async with self.sessions() as session:
                rows = await service.after(session, last_id=self.last)
            for row in rows:  # no await in here: see the module's docstring
                for subscription in self._subscriptions.get(row.account_id, ()):
                    subscription.push(row)
            if rows:
                self.last = rows[-1].id
            if len(rows) < service.BATCH:
                return

    async def _listen_loop(self) -> None:
        """PostgreSQL: wake the reader at every NOTIFY; connect again when the connection drops."""
        url = make_url(self.database_url).set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._wake.set()  # whatever came while not listening
                    async for _ in conn.notifies():
                        self._wake.set()
            except (psycopg.Error, OSError):
                log.warning("listening for events failed; trying again", exc_info=True)
            await asyncio.sleep(RECONNECT_SECONDS)
