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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg import (
    failpoints,
    idempotency,
    metrics,
    models,  # noqa: F401  (every mapped table, for a worker started alone)
)
from vpsorg.accounts import jobs as accounts_jobs
from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.batches import Batches
from vpsorg.billing import jobs as billing_jobs
from vpsorg.config import Settings
from vpsorg.console import service as consoles
from vpsorg.console.service import TicketRefused
from vpsorg.db import utcnow
from vpsorg.drivers import load_driver
from vpsorg.drivers.base import Console, Driver, DriverError, HostConfig, PowerState, Usage, VmSpec
from vpsorg.events import jobs as events_jobs
from vpsorg.hosts import service as hosts
from vpsorg.hosts.models import Host
from vpsorg.servers import jobs as servers_jobs
from vpsorg.servers import lifecycle
from vpsorg.servers.models import Server
from vpsorg.servers.states import ActionType, ServerStatus
from vpsorg.snapshots import jobs as snapshots_jobs
from vpsorg.snapshots import service as snapshots
from vpsorg.usage import jobs as usage_jobs
from vpsorg.webhooks import jobs as webhooks_jobs
from vpsorg.worker.console import RelayListener

log = logging.getLogger("vpsorg.worker")


@dataclass
class _Outcome:
    """A finished action waiting for its outcome to be recorded (`Worker.record`)."""

    action: Action
    error: str | None
    usage: Usage | None
    migrated: lifecycle.Migrated | None = None
    snapshot_size: int | None = None  # a snapshot's, in GB


class UnknownHost(ValueError):
    """`vpsorg worker --host NAME` names no host."""


class Worker:
    """Serves hosts: claims the actions of their servers and drives each host's hypervisor.

    With `driver`, that one driver serves every host (one hypervisor; tests). Without, each
    host's driver is built from its row (`hosts`: its driver and connection, else the
    settings'): with `host_names`, only those hosts are served (`vpsorg worker --host`), and
    only their servers' actions claimed; without, every host (the single-machine default)."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        driver: Driver | None = None,
        *,
        host_names: Sequence[str] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.driver = driver
        self.host_names = list(host_names) if host_names is not None else None
        self._host_ids: list[int] | None = None  # the claim filter: None claims for every host
        self._drivers: dict[int | None, Driver] = {}  # per host id (None: a server on no host)
        self._action_hosts: dict[int, int | None] = {}  # claimed action: its server's host
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._running: dict[int, asyncio.Task[None]] = {}  # claimed, outcome not yet recorded
        self._driving: set[int] = set()  # of those, the ones in their driver call
        self._leases: dict[int, int] = {}  # running action: the fence it was claimed with
        self._wake = asyncio.Event()
        self._more = False  # the last claim left claimable actions behind
        self._heartbeat: asyncio.Task[None] | None = None
        self._outcomes = Batches(self._record_batch, what="recording outcomes")
        self._relays = RelayListener(self.attach_console)
        # Where this worker takes console relays, written on its hosts' rows (heartbeat).
        self.console_address: str | None = None

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; then let running actions finish.

        Usage sampling and reconcile run beside the claim loop, each on its own timer, so a
        pass over thousands of machines never holds up claiming the next action."""
        s = self.settings
        served = await self._resolve_hosts()
        bound = await self._relays.start(s.console_listen)
        self.console_address = s.console_advertise or bound
        what = self.driver.name if self.driver is not None else "per host"
        hosts_served = ", ".join(h.name for h in served) if self.host_names is not None else "all"
        log.info("worker %s started (driver %s; hosts %s)", self.owner, what, hosts_served)
        periodic = [
            asyncio.create_task(self._every(s.host_down_seconds / 4, "host heartbeat", self.heartbeat, stop)),
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
                    s.usage_rollup_interval_seconds,
                    "usage roll-up",
                    lambda: usage_jobs.roll_up(self.sessions),
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
                    3600.0,
                    "login session purge",
                    lambda: accounts_jobs.purge_login_sessions(self.sessions),
                    stop,
                    delay=True,
                )
            ),
            asyncio.create_task(
                self._every(
                    events_jobs.PURGE_INTERVAL_SECONDS,
                    "event purge",
                    lambda: events_jobs.purge_old(self.sessions, retention_days=s.event_retention_days),
                    stop,
                )
            ),
            asyncio.create_task(
                self._every(3600.0, "console ticket purge", self._purge_tickets, stop, delay=True)
            ),
            asyncio.create_task(self._every(s.reconcile_interval_seconds, "reconcile", self.reconcile, stop)),
            asyncio.create_task(
                self._every(
                    s.snapshot_jobs_interval_seconds, "snapshot jobs", self.snapshot_jobs, stop, delay=True
                )
            ),
            asyncio.create_task(
                self._every(
                    s.webhooks_interval_seconds,
                    "webhook deliveries",
                    lambda: webhooks_jobs.run(self.sessions, self.settings, owner=self.owner),
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
        await self._relays.close()
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        for driver in self._drivers.values():
            await driver.close()
        self._drivers.clear()
        log.info("worker %s stopped", self.owner)

    # -- hosts ----------------------------------------------------------------------------

    async def _resolve_hosts(self) -> list[Host]:
        """The hosts served, read now; with host names, UnknownHost for a name no host has,
        and the claim filter set to their ids."""
        async with self.sessions() as session:
            served = await hosts.list_hosts(session, names=self.host_names)
        if self.host_names is not None:
            missing = sorted(set(self.host_names) - {h.name for h in served})
            if missing:
                raise UnknownHost(f"no host named {', '.join(missing)} (vpsorg hosts list)")
            self._host_ids = [h.id for h in served]
        return served

    async def heartbeat(self) -> None:
        """The served hosts are alive (their rows say when we last said so); count the hosts
        by state for /metrics."""
        now = utcnow()
        async with self.sessions.begin() as session:
            if self._host_ids is not None:
                ids = self._host_ids
            else:  # every host, including ones added since the start
                ids = list(await session.scalars(select(Host.id)))
            await hosts.heartbeat(session, host_ids=ids, now=now, console_address=self.console_address)
            rows = await hosts.list_hosts(session)
        counts = dict.fromkeys(("enabled", "disabled", "draining", "down"), 0)
        for host in rows:
            state = hosts.shown_state(host, now=now, down_after=self.settings.host_down_seconds)
            counts[state] = counts.get(state, 0) + 1
        for state, n in counts.items():
            metrics.HOSTS.labels(state).set(n)

    async def attach_console(self, ticket: str) -> Console:
        """Consume a console ticket and open its server's serial console on the server's
        host (one this worker serves); TicketRefused, or DriverError from the driver. A
        ticket for a host served elsewhere is left unused (the transaction rolls back)."""
        async with self.sessions.begin() as session:
            target = await consoles.consume(session, ticket=ticket)
            if self._host_ids is not None and target.host_id not in self._host_ids:
                raise TicketRefused(f"the host of server {target.server_id} is not served by this worker")
        driver = await self.driver_for(target.host_id)
        log.info("console of server %s opened", target.server_id)
        return await driver.open_console(target.server_id)

    async def _purge_tickets(self) -> None:
        async with self.sessions.begin() as session:
            await consoles.purge(session)

    async def driver_for(self, host_id: int | None) -> Driver:
        """The driver of a host (built from its row on first use), or the one driver given."""
        if self.driver is not None:
            return self.driver
        found = self._drivers.get(host_id)
        if found is not None:
            return found
        config = None
        if host_id is not None:
            async with self.sessions() as session:
                row = await hosts.get_host(session, host_id=host_id)
            config = HostConfig(
                name=row.name,
                driver=row.driver,
                uri=row.uri,
                storage=row.storage,
                network=row.network,
                bridge=row.bridge,
            )
        driver = load_driver(self.settings, self.sessions, config)
        self._drivers[host_id] = driver
        return driver

    async def _served_drivers(self) -> list[tuple[int | None, Driver]]:
        """(host id, driver) of each host served; (None, the driver) for the one driver given."""
        if self.driver is not None:
            return [(None, self.driver)]
        return [(h.id, await self.driver_for(h.id)) for h in await self._resolve_hosts()]

    async def reconcile(self) -> None:
        """Reconcile each served host's hypervisor with the servers placed on it."""
        orphans: set[int] = set()
        for host_id, driver in await self._served_drivers():
            try:
                _, found = await servers_jobs.reconcile_host(self.sessions, driver, host_id)
            except DriverError as exc:
                log.warning("reconcile of host %s: %s", host_id, exc)
                continue
            orphans.update(found)
        metrics.ORPHAN_MACHINES.set(len(orphans))

    async def snapshot_jobs(self) -> None:
        """Daily backups queued, pruned to the retention, deleted snapshots' images removed
        (those on the hosts served)."""
        await snapshots_jobs.run_all(
            self.sessions, self.driver_for, keep=self.settings.backup_retention, hosts=self._host_ids
        )

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
        on = self._host_ids
        if not self._more:  # a cheap read first: idle workers take no locks
            async with self.sessions() as session:
                if await actions.next_claimable(session, exclude=exclude, hosts=on) is None:
                    return False
        async with self.sessions.begin() as session:
            claimed, self._more = await actions.claim_batch(
                session,
                owner=self.owner,
                lease_seconds=self.settings.worker_lease_seconds,
                exclude=exclude,
                limit=limit,
                hosts=on,
            )
            creates = [a.server_id for a in claimed if a.type == ActionType.CREATE]
            specs = await lifecycle.vm_specs(session, creates) if creates else {}
            if claimed and self.driver is None:
                placed = await lifecycle.hosts_of(session, [a.server_id for a in claimed])
                self._action_hosts.update({a.id: placed.get(a.server_id) for a in claimed})
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
        self._action_hosts.pop(action_id, None)
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
            given_up = f"gave up after {action.attempts - 1} attempts"
            migrated = None
            if kind == ActionType.MIGRATE:  # where did the tries leave the machine?
                source = await self.driver_for(self._action_hosts.get(aid))
                migrated = await self._find_migrated(action, source, await self._target_of(action))
            self._driven(aid)
            await self.record(action, given_up, migrated=migrated)
            return
        if kind == ActionType.MIGRATE:
            await self._execute_migration(action)
            return
        if kind == ActionType.SNAPSHOT:
            await self._execute_snapshot(action)
            return
        usage = None
        started = time.monotonic()
        try:
            failpoints.hit("worker.after_claim")
            driver = await self.driver_for(self._action_hosts.get(aid))
            await self._call_driver(driver, kind, action.server_id, spec)
            log.info("action %s: %s took %.3f s in the driver", aid, kind, time.monotonic() - started)
            failpoints.hit("worker.after_driver")
            error = None
            if kind != ActionType.DELETE:
                usage = await self._usage(driver, action.server_id)
        except DriverError as exc:
            error = str(exc) or type(exc).__name__
            log.warning("action %s failed: %s", aid, error)
        self._driven(aid)  # its slot is free: the next action is claimed while this one is recorded
        await self.record(action, error, usage)

    async def _execute_snapshot(self, action: Action) -> None:
        """Copy the server's disk into the action's snapshot; its size, or the driver's error."""
        size, error = None, None
        failpoints.hit("worker.after_claim")
        async with self.sessions() as session:
            snapshot_id = await snapshots.for_action(session, action_id=action.id)
        try:
            if snapshot_id is None:
                raise DriverError("the snapshot is gone")
            driver = await self.driver_for(self._action_hosts.get(action.id))
            size = await driver.snapshot(action.server_id, snapshot_id)
            failpoints.hit("worker.after_driver")
        except DriverError as exc:
            error = str(exc) or type(exc).__name__
            log.warning("action %s failed: %s", action.id, error)
        self._driven(action.id)
        await self._outcomes.submit(_Outcome(action, error, None, snapshot_size=size))

    async def _target_of(self, action: Action) -> Driver:
        assert action.target_host_id is not None
        return await self.driver_for(action.target_host_id)

    async def _execute_migration(self, action: Action) -> None:
        """Run a claimed migration to its recorded outcome (see `_migrate`)."""
        aid = action.id
        started = time.monotonic()
        failpoints.hit("worker.after_claim")
        source = await self.driver_for(self._action_hosts.get(aid))
        target = await self._target_of(action)
        error, migrated = await self._migrate(action, source, target)
        log.info("action %s: migrate took %.3f s in the drivers", aid, time.monotonic() - started)
        failpoints.hit("worker.after_driver")
        usage = None
        if migrated.moved and migrated.power == PowerState.RUNNING:
            usage = await self._usage(target, action.server_id)
        if error is not None:
            log.warning("action %s failed: %s", aid, error)
        self._driven(aid)
        await self.record(action, error, usage, migrated=migrated)

    async def _migrate(
        self, action: Action, source: Driver, target: Driver
    ) -> tuple[str | None, lifecycle.Migrated]:
        """A cold migration from the source host (the server's host when claimed) to the
        target (the action's): stop the machine if it runs, the target receives it (its disk
        copied), the source's is destroyed, and it starts on the target if it was running.
        Every step is idempotent, so a run again after a crash (kill -9 anywhere) converges:
        a stopped machine is not stopped again, a machine the target has is not received
        again (nor needs the source), a destroyed one is gone already.

        A DriverError before the source's machine is destroyed rolls back: the target's copy,
        if any, is removed and the source's started again if it was running, so the server
        stays where it was, as it was. The error (None: success) and where the machine is;
        DriverErrors never escape (anything else does: the action is retried)."""
        sid = action.server_id
        running = action.resume_status == ServerStatus.ACTIVE
        resume = ServerStatus(action.resume_status or ServerStatus.STOPPED)
        assert action.target_host_id is not None
        if target is source:  # one hypervisor serves both hosts (tests): nothing to move
            power = (await source.info(sid)).power_state
            return None, lifecycle.Migrated(action.target_host_id, resume, True, power)
        try:
            spec = await self.spec(sid)
            if (await source.info(sid)).power_state == PowerState.RUNNING:
                await source.stop(sid)
            failpoints.hit("worker.migrate_stopped")
            await target.receive(spec, source)
            failpoints.hit("worker.migrate_received")
            await source.destroy(sid)
        except DriverError as exc:
            error = f"migration failed: {exc}"
            return error, await self._roll_back(action, source, target, error)
        return await self._start_moved(action, target, running)

    async def _start_moved(
        self, action: Action, target: Driver, running: bool, error: str | None = None
    ) -> tuple[str | None, lifecycle.Migrated]:
        """The machine is on the target only: started there if it was running."""
        assert action.target_host_id is not None
        resume = ServerStatus(action.resume_status or ServerStatus.STOPPED)
        power = PowerState.SHUTOFF
        if running:
            try:
                await target.start(action.server_id)
                power = PowerState.RUNNING
            except DriverError as exc:
                error = f"moved to another host, but it did not start there: {exc}"
        return error, lifecycle.Migrated(action.target_host_id, resume, True, power)

    async def _roll_back(
        self, action: Action, source: Driver, target: Driver, error: str
    ) -> lifecycle.Migrated:
        """After a failed step: where the source still has the machine, the server stays
        there (the target's copy removed, the source's started again if it was running);
        where it has not (destroyed already), the target's is the server's, and is started."""
        sid = action.server_id
        assert action.target_host_id is not None
        resume = ServerStatus(action.resume_status or ServerStatus.STOPPED)
        running = resume == ServerStatus.ACTIVE
        try:
            here = (await source.info(sid)).power_state
            if here == PowerState.MISSING:
                return await self._forward(action, target, running)
            # Whatever the target holds of it (a whole copy, or the leftovers of one cut short,
            # which count as no machine there): destroy removes only the target's own.
            await target.destroy(sid)
            if running and here != PowerState.RUNNING:
                await source.start(sid)
                here = PowerState.RUNNING
            return lifecycle.Migrated(action.target_host_id, resume, False, here)
        except DriverError as exc:
            log.warning("action %s: rolling the migration back failed: %s", action.id, exc)
            return lifecycle.Migrated(action.target_host_id, resume, False, PowerState.UNKNOWN)

    async def _forward(self, action: Action, target: Driver, running: bool) -> lifecycle.Migrated:
        """The source's machine is gone: the target's, if it has one, is the server's."""
        assert action.target_host_id is not None
        resume = ServerStatus(action.resume_status or ServerStatus.STOPPED)
        there = (await target.info(action.server_id)).power_state
        if there == PowerState.MISSING:  # on neither host
            return lifecycle.Migrated(action.target_host_id, resume, None, PowerState.MISSING)
        if there == PowerState.RUNNING or not running:
            return lifecycle.Migrated(action.target_host_id, resume, True, there)
        return (await self._start_moved(action, target, True))[1]

    async def _find_migrated(self, action: Action, source: Driver, target: Driver) -> lifecycle.Migrated:
        """Where a migration given up on left the machine (asked of both hosts, nothing
        changed); unknown when they do not say."""
        assert action.target_host_id is not None
        resume = ServerStatus(action.resume_status or ServerStatus.STOPPED)
        try:
            here = (await source.info(action.server_id)).power_state
            if here != PowerState.MISSING or target is source:
                return lifecycle.Migrated(action.target_host_id, resume, False, here)
            there = (await target.info(action.server_id)).power_state
            moved = None if there == PowerState.MISSING else True
            return lifecycle.Migrated(action.target_host_id, resume, moved, there)
        except DriverError:
            return lifecycle.Migrated(action.target_host_id, resume, None, None)

    async def _call_driver(
        self, driver: Driver, kind: ActionType, server_id: int, spec: VmSpec | None = None
    ) -> None:
        calls: dict[ActionType, Callable[[int], Awaitable[None]]] = {
            ActionType.START: driver.start,
            ActionType.STOP: driver.stop,
            ActionType.REBOOT: driver.reboot,
            ActionType.DELETE: driver.destroy,
            ActionType.SUSPEND: driver.stop,
        }
        if kind == ActionType.CREATE:
            await driver.create(spec or await self.spec(server_id))
        elif kind == ActionType.RESIZE:  # the server's row has the new plan already
            await driver.resize(await self.spec(server_id))
        elif kind == ActionType.REBUILD:  # the spec read now: the image and keys it asked for
            await driver.rebuild(await self.spec(server_id))
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

    async def record(
        self,
        action: Action,
        error: str | None,
        usage: Usage | None = None,
        *,
        migrated: lifecycle.Migrated | None = None,
    ) -> bool:
        """Write the outcome, the server's new state and its usage in one transaction, if
        still ours (the fence); a stale claim's outcome is discarded (False).

        Outcomes that finish while another batch is being written wait and are then written
        together, in one transaction, each fenced on its own: a stale one is discarded alone.
        Should a batch fail, each of its outcomes is tried alone, so one cannot sink the rest."""
        return await self._outcomes.submit(_Outcome(action, error, usage, migrated))

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
            lifecycle.Outcome(
                o.action.id,
                o.action.server_id,
                ActionType(o.action.type),
                o.error,
                o.usage,
                o.migrated,
                o.snapshot_size,
            )
            for o, ok in zip(batch, recorded, strict=True)
            if ok
        ]
        await lifecycle.apply_outcomes(session, fresh, now=now)
        return recorded

    async def _usage(self, driver: Driver, server_id: int) -> Usage | None:
        try:
            return await driver.usage(server_id)
        except DriverError as exc:
            log.warning("usage of server %s: %s", server_id, exc)
            return None

    async def sample_usage(self) -> None:
        """Sample the usage of the provisioned servers of each served host."""
        for host_id, driver in await self._served_drivers():
            await self._sample_host(driver, host_id)

    async def _sample_host(self, driver: Driver, host_id: int | None) -> None:
        """Ask a host's driver for the usage of its provisioned servers (every server's, for
        None) and keep the latest sample, and each in the history (vpsorg.usage).

        A driver with `usage_many` (one bulk call for many machines) is asked in chunks;
        otherwise machine by machine, a few at a time. Each chunk of samples is written in one
        transaction, as two statements (the latest samples, the history's raw rows), not a
        read and a write per server."""
        async with self.sessions() as session:
            q = select(Server.id).where(Server.deleted_at.is_(None), Server.provisioned_at.is_not(None))
            if host_id is not None:
                q = q.where(Server.host_id == host_id)
            ids = list(await session.scalars(q))
        usage_many = getattr(driver, "usage_many", None)
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
                    return sid, await self._usage(driver, sid)

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
