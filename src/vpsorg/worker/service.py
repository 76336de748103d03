"""The worker: claim an action with a lease, call the driver, record the outcome.

Only the worker talks to drivers. A worker that dies mid-action loses nothing: its lease
runs out, another claim bumps the action's fence and runs it again from the start (every
driver call is idempotent on the server id), and the dead worker's late result, if any,
is refused by the fence.
"""

import asyncio
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg import (
    failpoints,
    idempotency,
    metrics,
    models,  # noqa: F401  (every mapped table, for a worker started alone)
)
from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.batches import Batches
from vpsorg.billing import jobs as billing_jobs
from vpsorg.config import Settings
from vpsorg.db import utcnow
from vpsorg.drivers.base import Driver, DriverError, Usage, VmSpec
from vpsorg.servers import jobs as servers_jobs
from vpsorg.servers import lifecycle
from vpsorg.servers.models import Server
from vpsorg.servers.states import ActionType

log = logging.getLogger("vpsorg.worker")


@dataclass
class _Outcome:
    """A finished action waiting for its outcome to be recorded (`Worker.record`)."""

    action: Action
    error: str | None
    usage: Usage | None


class Worker:
    def __init__(
        self, settings: Settings, sessions: async_sessionmaker[AsyncSession], driver: Driver
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.driver = driver
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._running: dict[int, asyncio.Task[None]] = {}  # claimed, outcome not yet recorded
        self._driving: set[int] = set()  # of those, the ones in their driver call
        self._leases: dict[int, int] = {}  # running action: the fence it was claimed with
        self._wake = asyncio.Event()
        self._more = False  # the last claim left claimable actions behind
        self._heartbeat: asyncio.Task[None] | None = None
        self._outcomes = Batches(self._record_batch, what="recording outcomes")

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; then let running actions finish.

        Usage sampling and reconcile run beside the claim loop, each on its own timer, so a
        pass over thousands of machines never holds up claiming the next action."""
        s = self.settings
        log.info("worker %s started (driver %s)", self.owner, self.driver.name)
        periodic = [
            asyncio.create_task(
                self._every(s.metrics_interval_seconds, "usage sampling", self.sample_usage, stop)
            ),
            asyncio.create_task(
                self._every(
                    s.billing_interval_seconds,
                    "billing",
                    lambda: billing_jobs.charge_due(self.sessions),
                    stop,
                    delay=True,
                )
            ),
            asyncio.create_task(
                self._every(
                    3600.0,
                    "idempotency key purge",
                    lambda: idempotency.purge(self.sessions),
                    stop,
                    delay=True,
                )
            ),
            asyncio.create_task(
                self._every(
                    s.reconcile_interval_seconds,
                    "reconcile",
                    lambda: servers_jobs.reconcile(self.sessions, self.driver),
                    stop,
                )
            ),
        ]
        while not stop.is_set():
            # Cleared before looking: an action that finishes (or a wake) from here on
            # makes the wait below return at once.
            self._wake.clear()
            try:
                while (free := self.free_slots()) > 0 and await self.claim_and_start(free):
                    pass
            except Exception:
                log.exception("worker loop failed; retrying")
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=s.worker_poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
        for task in periodic:
            task.cancel()
        await asyncio.gather(*periodic, return_exceptions=True)
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        log.info("worker %s stopped", self.owner)

    @staticmethod
    async def _every(
        interval: float,
        what: str,
        job: Callable[[], Awaitable[object]],
        stop: asyncio.Event,
        *,
        delay: bool = False,
    ) -> None:
        """Run `job` every `interval` seconds (after it ends; the first time at once, or after
        one interval with `delay`) until `stop`."""
        if delay:
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
        while not stop.is_set():
            try:
                await job()
            except Exception:
                log.exception("%s failed; trying again in %g s", what, interval)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def claim_and_start(self, limit: int = 1) -> bool:
        """Claim up to `limit` actions (in one transaction) and run each in the background;
        whether to look again at once (False: there was none left to claim).

        The actions are chosen fairly between accounts, as one claim after another would be:
        the oldest claimable action of the account with the fewest actions running
        (`actions.claim_batch`). A finished action wakes the loop in `run` to fill its slot."""
        exclude = set(self._running)
        if not self._more:  # a cheap read first: idle workers take no locks
            async with self.sessions() as session:
                if await actions.next_claimable(session, exclude=exclude) is None:
                    return False
        async with self.sessions.begin() as session:
            claimed, self._more = await actions.claim_batch(
                session,
                owner=self.owner,
                lease_seconds=self.settings.worker_lease_seconds,
                exclude=exclude,
                limit=limit,
            )
            creates = [a.server_id for a in claimed if a.type == ActionType.CREATE]
            specs = await lifecycle.vm_specs(session, creates) if creates else {}
        for action in claimed:
            self._leases[action.id] = action.fence
            task = asyncio.create_task(self.execute(action, specs.get(action.server_id)))
            self._running[action.id] = task
            self._driving.add(action.id)
            task.add_done_callback(functools.partial(self._finished, action.id))
        if claimed and (self._heartbeat is None or self._heartbeat.done()):
            self._heartbeat = asyncio.create_task(self._renew_leases())
        return bool(claimed) or self._more

    def free_slots(self) -> int:
        """How many more actions to claim now: worker_concurrency bounds the driver calls
        at once; an action whose driver call is over frees its slot while its outcome is
        being recorded (so the next batch is claimed and driven meanwhile), and at most
        twice as many are claimed in all."""
        n = self.settings.worker_concurrency
        return min(n - len(self._driving), 2 * n - len(self._running))

    def _finished(self, action_id: int, _task: object) -> None:
        self._running.pop(action_id, None)
        self._driving.discard(action_id)
        self._leases.pop(action_id, None)
        self._wake.set()  # a free slot: claim the next action now, not at the next poll

    def _driven(self, action_id: int) -> None:
        self._driving.discard(action_id)
        self._wake.set()

    async def run_until_idle(self) -> None:
        """Run every claimable action to completion (tests and one-shot use)."""
        while await self.claim_and_start() or self._running:
            if self._running:
                await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def execute(self, action: Action, spec: VmSpec | None = None) -> None:
        """Run one claimed action to its recorded outcome (a create with its machine's
        spec, when the claim read it).

        A DriverError is the hypervisor's answer and fails the action. Any other exception
        is our own trouble (a bug, the database away): the action stays claimed, its lease
        runs out, and it is tried again, at most worker_max_attempts times.
        """
        try:
            await self._execute(action, spec)
        except Exception:
            log.exception("action %s: worker failure; it is retried when its lease expires", action.id)

    async def _execute(self, action: Action, spec: VmSpec | None) -> None:
        aid, kind = action.id, ActionType(action.type)
        log.info("action %s (%s server %s) attempt %s", aid, kind, action.server_id, action.attempts)
        if action.attempts > self.settings.worker_max_attempts:
            self._driven(aid)
            await self.record(action, f"gave up after {action.attempts - 1} attempts")
            return
        usage = None
        started = time.monotonic()
        try:
            failpoints.hit("worker.after_claim")
            await self._call_driver(kind, action.server_id, spec)
            log.info("action %s: %s took %.3f s in the driver", aid, kind, time.monotonic() - started)
            failpoints.hit("worker.after_driver")
            error = None
            if kind != ActionType.DELETE:
                usage = await self._usage(action.server_id)
        except DriverError as exc:
            error = str(exc) or type(exc).__name__
            log.warning("action %s failed: %s", aid, error)
        self._driven(aid)  # its slot is free: the next action is claimed while this one is recorded
        await self.record(action, error, usage)

    async def _call_driver(self, kind: ActionType, server_id: int, spec: VmSpec | None = None) -> None:
        calls: dict[ActionType, Callable[[int], Awaitable[None]]] = {
            ActionType.START: self.driver.start,
            ActionType.STOP: self.driver.stop,
            ActionType.REBOOT: self.driver.reboot,
            ActionType.DELETE: self.driver.destroy,
            ActionType.SUSPEND: self.driver.stop,
        }
        if kind == ActionType.CREATE:
            await self.driver.create(spec or await self.spec(server_id))
        else:
            await calls[kind](server_id)

    async def _renew_leases(self) -> None:
        """Heartbeats: every lease/3, one statement renews the leases of all running actions.

        An action whose lease another claim took is not renewed again; its result will be
        refused by the fence. Runs while this worker has actions running."""
        lease = self.settings.worker_lease_seconds
        while self._leases:
            await asyncio.sleep(lease / 3)
            leases = dict(self._leases)
            if not leases:
                return
            try:
                async with self.sessions.begin() as session:
                    ours = await actions.renew_many(session, leases=leases, lease_seconds=lease)
            except Exception:
                log.exception("renewing %d leases failed; trying again in %g s", len(leases), lease / 3)
                continue
            for aid in leases.keys() - ours:
                if aid in self._leases:
                    log.warning("action %s: lease lost to another worker", aid)
                    del self._leases[aid]

    async def spec(self, server_id: int) -> VmSpec:
        async with self.sessions() as session:
            return (await lifecycle.vm_specs(session, [server_id]))[server_id]

    async def record(self, action: Action, error: str | None, usage: Usage | None = None) -> bool:
        """Write the outcome, the server's new state and its usage in one transaction, if
        still ours (the fence); a stale claim's outcome is discarded (False).

        Outcomes that finish while another batch is being written wait and are then written
        together, in one transaction, each fenced on its own: a stale one is discarded alone.
        Should a batch fail, each of its outcomes is tried alone, so one cannot sink the rest."""
        return await self._outcomes.submit(_Outcome(action, error, usage))

    async def _record_batch(self, batch: list[_Outcome]) -> list[bool]:
        async with self.sessions.begin() as session:
            recorded = await self._write_outcomes(session, batch)
            failpoints.hit("worker.before_commit")
        for outcome, ok in zip(batch, recorded, strict=True):
            self._leases.pop(outcome.action.id, None)
            if ok:
                kind = outcome.action.type
                metrics.ACTIONS.labels(kind, "success" if outcome.error is None else "error").inc()
        return recorded

    async def _write_outcomes(self, session: AsyncSession, batch: list[_Outcome]) -> list[bool]:
        now = utcnow()
        done = await actions.finish_many(
            session, outcomes={(o.action.id, o.action.fence): o.error for o in batch}
        )
        recorded = []
        for outcome in batch:
            ok = outcome.action.id in done
            if not ok:
                log.warning("action %s: result discarded, the claim is stale", outcome.action.id)
            recorded.append(ok)
        fresh = [
            lifecycle.Outcome(o.action.id, o.action.server_id, ActionType(o.action.type), o.error, o.usage)
            for o, ok in zip(batch, recorded, strict=True)
            if ok
        ]
        await lifecycle.apply_outcomes(session, fresh, now=now)
        return recorded

    async def _usage(self, server_id: int) -> Usage | None:
        try:
            return await self.driver.usage(server_id)
        except DriverError as exc:
            log.warning("usage of server %s: %s", server_id, exc)
            return None

    async def sample_usage(self) -> None:
        """Ask the driver for the usage of provisioned servers and keep the latest sample.

        A driver with `usage_many` (one bulk call for many machines) is asked in chunks;
        otherwise machine by machine, a few at a time. The samples are written as one upsert
        per chunk, not a read and a write per server."""
        async with self.sessions() as session:
            q = select(Server.id).where(Server.deleted_at.is_(None), Server.provisioned_at.is_not(None))
            ids = list(await session.scalars(q))
        usage_many = getattr(self.driver, "usage_many", None)
        if usage_many is not None:
            try:
                found: dict[int, Usage] = await usage_many(ids)
            except DriverError as exc:
                log.warning("usage of %d servers: %s", len(ids), exc)
                return
            samples = list(found.items())
        else:
            # A few at a time: a real hypervisor answers each in RPCs and a guest-agent call.
            gate = asyncio.Semaphore(8)

            async def sample(sid: int) -> tuple[int, Usage | None]:
                async with gate:
                    return sid, await self._usage(sid)

            results = await asyncio.gather(*(sample(sid) for sid in ids))
            samples = [(sid, usage) for sid, usage in results if usage is not None]
        now = utcnow()
        for start in range(0, len(samples), 1000):
            chunk = samples[start : start + 1000]
            async with self.sessions.begin() as session:
                live = set(
                    await session.scalars(
                        select(Server.id).where(
                            Server.id.in_([sid for sid, _ in chunk]), Server.deleted_at.is_(None)
                        )
                    )
                )
                await lifecycle.store_usage(
                    session, [lifecycle.usage_row(sid, usage, now) for sid, usage in chunk if sid in live]
                )
