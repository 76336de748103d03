"""The operator CLI (`vpsorg`, src/vpsorg/cli.py) run in this process through Typer's runner.

A real `vpsorg` process costs an interpreter start and the imports of FastAPI and SQLAlchemy
(seconds each on a busy machine); the command's code is the same either way. So tests run the
commands in-process wherever the separate process is not what they check, and keep a few real
processes for what only a process shows (the console script, serving, signals, start-up
refusals). What the runner returns looks like a finished process: exit status, stdout and
stderr apart, and an exception that escaped the command as the interpreter would show it (a
traceback on stderr, exit 1), so the assertions written for processes hold unchanged.

Isolation: the environment is exactly the one given (every other variable is removed for the
call, as in a process started with that environment; Typer's runner restores os.environ after);
each command's asyncio.run makes and closes its own event loop; the commands that would keep
running (`serve`, `worker`) cannot start serving here: uvicorn.run, Worker.run and the metrics
server raise instead, so a broken start-up check fails the test instead of serving inside it.
The environment is the process's for the duration of the call, so other threads here (the
shared `live` server) see it too: settings are read once at start-up and do not change, but the
simulated clock and the failpoints are read at every use, so those two variables cannot be
given here (a test that needs them runs the command as a real process).
"""

import os
import subprocess
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn
from unittest import mock

from typer.testing import CliRunner

from vpsorg import clock, failpoints
from vpsorg.cli import app

RUNNER = CliRunner()


class WouldServe(AssertionError):
    """`serve` or `worker` got past its checks: in-process it must not run."""


def _refuse(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise WouldServe(f"{what} was called: the command did not stop before serving")

    return refuse


@contextmanager
def _no_serving() -> Iterator[None]:
    import uvicorn

    from vpsorg import metrics
    from vpsorg.worker.service import Worker

    with (
        mock.patch.object(uvicorn, "run", _refuse("uvicorn.run")),
        mock.patch.object(Worker, "run", _refuse("Worker.run")),
        mock.patch.object(metrics, "serve", _refuse("metrics.serve")),
    ):
        yield


def vpsorg_in_process(
    args: list[str], env: Mapping[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`vpsorg ARGS` with exactly the environment `env` (and `stdin` on standard input), in
    this process, to completion."""
    for name in (clock.ENV, failpoints.ENV):
        assert env.get(name) == os.environ.get(name), f"{name} is read by every thread: use a process"
    outside = {k for k in os.environ if k not in env}
    with _no_serving():
        result = RUNNER.invoke(
            app, list(args), input=stdin, env=dict(env) | dict.fromkeys(outside), prog_name="vpsorg"
        )
    stderr = result.stderr
    code = result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        if isinstance(result.exception, WouldServe):
            raise result.exception
        # What the interpreter would do with an uncaught exception: a traceback, exit 1.
        stderr += "".join(traceback.format_exception(result.exception))
        code = 1
    return subprocess.CompletedProcess(["vpsorg", *args], code, result.stdout, stderr)
