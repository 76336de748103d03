"""The worker: claim an action with a lease, call the driver, record the outcome.

Only the worker talks to drivers. A worker that dies mid-action loses nothing: its lease
runs out, another claim bumps the action's fence and runs it again from the start (every
driver call is idempotent on the server id), and the dead worker's late result, if any,
is refused by the fence.
"""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

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
from vpsorg.billing import service as billing
from vpsorg.catalog.models import Location, OperatingSystem, Plan
from vpsorg.config import Settings
from vpsorg.db import utcnow
from vpsorg.drivers.base import Driver, DriverError, Usage, VmSpec
from vpsorg.ipam import service as ipam
from vpsorg.servers.models import Server, ServerUsage
from vpsorg.servers.states import POWER_AFTER, TRANSITIONS, ActionType, ServerStatus
from vpsorg.worker import reconcile

log = logging.getLogger("vpsorg.worker")


class Worker:
    def __init__(
        self, settings: Settings, sessions: async_sessionmaker[AsyncSession], driver: Driver
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.driver = driver
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()

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
                    lambda: billing.charge_due(self.sessions),
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
                    lambda: reconcile.run(self.sessions, self.driver),
                    stop,
                )
            ),
        ]
        while not stop.is_set():
            try:
                while len(self._running) < s.worker_concurrency and await self.claim_and_start():
                    pass
            except Exception:
                log.exception("worker loop failed; retrying")
            self._wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=s.worker_poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
        for task in periodic:
            task.cancel()
        await asyncio.gather(*periodic, return_exceptions=True)
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
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

    async def claim_and_start(self) -> bool:
        """Claim the next action and run it in the background; False if there was none.

        The next action is chosen fairly between accounts: the oldest claimable action of the
        account with the fewest actions running (`actions.claim_next`)."""
        async with self.sessions() as session:  # a cheap read first: idle workers take no locks
            if await actions.next_claimable(session, exclude=set(self._running)) is None:
                return False
        async with self.sessions.begin() as session:
            action = await actions.claim_next(
                session,
                owner=self.owner,
                lease_seconds=self.settings.worker_lease_seconds,
                exclude=set(self._running),
            )
        if action is None:
            return True  # another worker took it; look again
        task = asyncio.create_task(self.execute(action))
        self._running[action.id] = task
        aid = action.id
        task.add_done_callback(lambda _task: self._running.pop(aid, None))
        return True

    async def run_until_idle(self) -> None:
        """Run every claimable action to completion (tests and one-shot use)."""
        while await self.claim_and_start() or self._running:
            if self._running:
                await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def execute(self, action: Action) -> None:
        """Run one claimed action to its recorded outcome.

        A DriverError is the hypervisor's answer and fails the action. Any other exception
        is our own trouble (a bug, the database away): the action stays claimed, its lease
        runs out, and it is tried again, at most worker_max_attempts times.
        """
        try:
            await self._execute(action)
        except Exception:
            log.exception("action %s: worker failure; it is retried when its lease expires", action.id)

    async def _execute(self, action: Action) -> None:
        aid, fence, kind = action.id, action.fence, ActionType(action.type)
        log.info("action %s (%s server %s) attempt %s", aid, kind, action.server_id, action.attempts)
        if action.attempts > self.settings.worker_max_attempts:
            await self.record(action, f"gave up after {action.attempts - 1} attempts")
            return
        heartbeat = asyncio.create_task(self._heartbeat(aid, fence))
        usage = None
        started = time.monotonic()
        try:
            failpoints.hit("worker.after_claim")
            await self._call_driver(kind, action.server_id)
            log.info("action %s: %s took %.3f s in the driver", aid, kind, time.monotonic() - started)
            failpoints.hit("worker.after_driver")
            error = None
            if kind != ActionType.DELETE:
                usage = await self._usage(action.server_id)
        except DriverError as exc:
            error = str(exc) or type(exc).__name__
            log.warning("action %s failed: %s", aid, error)
        finally:
            heartbeat.cancel()
        await self.record(action, error, usage)

    async def _call_driver(self, kind: ActionType, server_id: int) -> None:
        calls: dict[ActionType, Callable[[int], Awaitable[None]]] = {
            ActionType.START: self.driver.start,
            ActionType.STOP: self.driver.stop,
            ActionType.REBOOT: self.driver.reboot,
            ActionType.DELETE: self.driver.destroy,
            ActionType.SUSPEND: self.driver.stop,
        }
        if kind == ActionType.CREATE:
            await self.driver.create(await self.spec(server_id))
        else:
            await calls[kind](server_id)

    async def _heartbeat(self, action_id: int, fence: int) -> None:
        lease = self.settings.worker_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            async with self.sessions.begin() as session:
                if not await actions.renew(session, action_id=action_id, fence=fence, lease_seconds=lease):
                    log.warning("action %s: lease lost to another worker", action_id)
                    return

    async def spec(self, server_id: int) -> VmSpec:
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(Server, Plan, OperatingSystem, Location)
                    .join(Plan, Plan.id == Server.plan_id)
                    .join(OperatingSystem, OperatingSystem.id == Server.os_id)
                    .join(Location, Location.id == Server.location_id)
                    .where(Server.id == server_id)
                )
            ).one()
        server, plan, os_, loc = row
        assert server.ipv4_address and server.ipv6_address
        return VmSpec(
            server_id=server.id,
            name=f"vps-{server.id}",
            hostname=server.hostname,
            vcpus=plan.vcpus,
            memory_mib=plan.memory,
            storage_gb=plan.storage,
            os_image=os_.image,
            ipv4_address=server.ipv4_address,
            ipv4_prefix=ipam.prefix_length(loc.ipv4_pool),
            ipv4_gateway=loc.ipv4_gateway,
            ipv6_address=server.ipv6_address,
            ipv6_prefix=ipam.prefix_length(loc.ipv6_pool),
            ipv6_gateway=loc.ipv6_gateway,
            ssh_public_keys=(server.ssh_public_key,) if server.ssh_public_key else (),
            os_kernel=os_.kernel,
            os_initrd=os_.initrd,
            os_kernel_args=os_.kernel_args,
        )

    async def record(self, action: Action, error: str | None, usage: Usage | None = None) -> None:
        """Write the outcome, the server's new state and its usage in one transaction, if still ours."""
        async with self.sessions.begin() as session:
            recorded = await self._write_outcome(session, action, error, usage)
            failpoints.hit("worker.before_commit")
        if recorded:
            metrics.ACTIONS.labels(action.type, "success" if error is None else "error").inc()

    async def _write_outcome(
        self, session: AsyncSession, action: Action, error: str | None, usage: Usage | None
    ) -> bool:
        kind = ActionType(action.type)
        now = utcnow()
        if not await actions.finish(session, action_id=action.id, fence=action.fence, error=error):
            log.warning("action %s: result discarded, the claim is stale", action.id)
            return False
        server = await session.get(Server, action.server_id)
        assert server is not None
        server.updated_at = now
        # A later action already queued (a suspension behind a start, say) set the status it
        # needs; this outcome leaves the status to it.
        superseded = await actions.has_open(session, server_id=server.id, after=action.id)
        if error is not None:
            server.error = error
            if server.deleted_at is None and not superseded:
                server.status = ServerStatus.ERROR
            return True
        server.power_state = POWER_AFTER[kind]
        if kind == ActionType.DELETE:
            await ipam.release(session, server=server)  # the machine is gone: addresses reusable
            sample = await session.get(ServerUsage, server.id)
            if sample is not None:
                await session.delete(sample)
            return True
        if server.deleted_at is None and not superseded:
            done = TRANSITIONS[kind].on_success
            assert done is not None
            server.status = done
            server.error = None
        if kind == ActionType.CREATE:
            server.provisioned_at = now
            server.billed_until = now  # charged by the hour from now on (vpsorg.billing)
        if usage is not None:
            await _store_usage(session, server.id, usage, now)
        return True

    async def _usage(self, server_id: int) -> Usage | None:
        try:
            return await self.driver.usage(server_id)
        except DriverError as exc:
            log.warning("usage of server %s: %s", server_id, exc)
            return None

    async def sample_usage(self) -> None:
        """Ask the driver for the usage of provisioned servers and keep the latest sample."""
        async with self.sessions() as session:
            q = select(Server.id).where(Server.deleted_at.is_(None), Server.provisioned_at.is_not(None))
            ids = list(await session.scalars(q))
        # A few at a time: a real hypervisor answers each in RPCs and a guest-agent call.
        gate = asyncio.Semaphore(8)

        async def sample(sid: int) -> tuple[int, Usage | None]:
            async with gate:
                return sid, await self._usage(sid)

        results = await asyncio.gather(*(sample(sid) for sid in ids))
        samples = [(sid, usage) for sid, usage in results if usage is not None]
        if not samples:
            return
        now = utcnow()
        async with self.sessions.begin() as session:
            live = set(
                await session.scalars(
                    select(Server.id).where(
                        Server.id.in_([sid for sid, _ in samples]), Server.deleted_at.is_(None)
                    )
                )
            )
            for sid, usage in samples:
                if sid in live:
                    await _store_usage(session, sid, usage, now)


async def _store_usage(session: AsyncSession, server_id: int, usage: Usage, now: datetime) -> None:
    await session.merge(
        ServerUsage(
            server_id=server_id,
            cpu_percent=usage.cpu_percent,
            memory_used=usage.memory_used,
            disk_used=usage.disk_used,
            bandwidth_used=usage.bandwidth_used,
            sampled_at=now,
        )
    )
