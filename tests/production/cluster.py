"""A production-shaped control plane for tests: API processes and workers as real processes
on one database (SQLite file or PostgreSQL), the simulator as hypervisor."""

import os
import signal
import sqlite3
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, make_url, select
from sqlalchemy.exc import OperationalError

from tests.conftest import Proc, free_port, prepare_database, run_db, spawn, test_settings, wait_http
from vpsorg.accounts import service as accounts
from vpsorg.actions.models import Action
from vpsorg.config import Settings
from vpsorg.drivers.simulator import SimCall, SimMachine
from vpsorg.servers.models import Server

TRANSITIONAL = {"provisioning", "starting", "stopping", "rebooting"}
OP_OF_ACTION = {"create": "create", "start": "start", "stop": "stop", "reboot": "reboot", "delete": "destroy"}


class Cluster:
    def __init__(
        self,
        tmp: Path,
        *,
        api_processes: int = 1,
        start_timeout: float = 120,  # a bound, not an expectation: start-up is slow on a busy machine
        env: dict[str, str] | None = None,
        **overrides: Any,
    ) -> None:
        self.tmp = tmp
        self.env = env or {}  # for every process: API, workers, CLI
        values: dict[str, Any] = {"worker_lease_seconds": 1.5} | overrides
        self.settings: Settings = test_settings(tmp / "cluster.db", **values)
        prepare_database(self.settings)
        self.start_timeout = start_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["serve", "--no-worker", "--port", str(self.port), "--workers", str(api_processes)]
        self.procs: list[Proc] = [spawn(args, self.settings, tmp / "api.log", env=self.env)]
        wait_http(self.url + "/healthz", timeout=start_timeout)

    def token(self, credit: str = "100000", email: str | None = None) -> str:
        async def make(session: Any) -> str:
            account = await accounts.create_account(
                session, email=email or f"c{time.monotonic_ns()}@example.com", credit=Decimal(credit)
            )
            return await accounts.create_token(session, account_id=account.id)

        return str(run_db(self.settings, make))

    def client(self, token: str | None = None, timeout: float = 60) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token or self.token()}"}, timeout=timeout
        )

    def worker(self, failpoint: str | None = None, *, args: Sequence[str] = (), **overrides: Any) -> Proc:
        """Start a worker (`vpsorg worker ARGS`, with the settings' `overrides`) and return
        once it works (has logged its start), so a test's own timeouts count the work, not
        the start-up of a Python process on a busy machine. Workers log at info (the
        production default): the start line, and each action."""
        settings = self.settings.model_copy(update={"log_level": "info"} | overrides)
        n = len(self.procs)
        env = self.env | ({"VPSORG_FAILPOINTS": failpoint} if failpoint else {})
        proc = spawn(["worker", *args], settings, self.tmp / f"worker{n}.log", env=env)
        self.procs.append(proc)

        def started() -> bool:
            exited = proc.popen.poll() is not None  # before the read: a start logged, then an exit
            log = proc.log.read_text(errors="replace")
            assert not exited or "started (driver" in log, f"the worker exited:\n{log}"
            return "started (driver" in log

        self.wait(started, self.start_timeout, f"the worker to start (log {proc.log})")
        return proc

    def db(self, fn: Callable[[Any], Any]) -> Any:
        return run_db(self.settings, fn)

    def scalars(self, query: Any) -> list[Any]:
        async def run(session: Any) -> list[Any]:
            return list((await session.scalars(query)).all())

        return list(self.db(run))

    def rows(self, query: Any) -> list[Any]:
        async def run(session: Any) -> list[Any]:
            return list((await session.execute(query)).all())

        return list(self.db(run))

    def action(self, action_id: int) -> Action:
        return self.db(lambda s: s.get(Action, action_id))

    def machines(self, server_id: int) -> int:
        q = select(func.count()).select_from(SimMachine).where(SimMachine.server_id == server_id)
        return int(self.db(lambda s: s.scalar(q)))

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def settled(self) -> bool:
        open_actions = self.scalars(select(Action.id).where(Action.status.in_(["queued", "running"])))
        moving = self.scalars(select(Server.id).where(Server.status.in_(TRANSITIONAL)))
        return not open_actions and not moving

    def driver_calls(self) -> dict[tuple[int, str], int]:
        rows = self.rows(
            select(SimCall.server_id, SimCall.op, func.count()).group_by(SimCall.server_id, SimCall.op)
        )
        return {(sid, op): n for sid, op, n in rows}

    def finished_actions(self) -> dict[tuple[int, str], int]:
        rows = self.rows(
            select(Action.server_id, Action.type, func.count())
            .where(Action.status.in_(["success", "error"]), Action.type != "sync")
            .group_by(Action.server_id, Action.type)
        )
        return {(sid, OP_OF_ACTION[kind]): n for sid, kind, n in rows}

    def pause(self, proc: Proc, action_id: int, *, tries: int = 50) -> None:
        """SIGSTOP `proc` at a moment it is in no write transaction (it holds neither SQLite's
        write lock nor, on PostgreSQL, the action's row lock), else everyone else would wait
        for it: stop it, look, and if it was inside one, let it go on a little and try again."""
        for _ in range(tries):
            os.kill(proc.popen.pid, signal.SIGSTOP)
            if self._lockable(action_id):
                return
            os.kill(proc.popen.pid, signal.SIGCONT)
            time.sleep(0.05)
        raise AssertionError(f"the process was in a write transaction at each of {tries} tries")

    def _lockable(self, action_id: int) -> bool:
        url = make_url(self.settings.database_url)
        if url.get_backend_name() == "sqlite":
            probe = sqlite3.connect(url.database or "", timeout=0.5)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.rollback()
                return True
            except sqlite3.OperationalError:  # database is locked
                return False
            finally:
                probe.close()

        async def lock(session: Any) -> bool:
            try:
                q = select(Action.id).where(Action.id == action_id).with_for_update(nowait=True)
                await session.execute(q)
            except OperationalError:  # LockNotAvailable
                return False
            return True

        return bool(self.db(lock))

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
