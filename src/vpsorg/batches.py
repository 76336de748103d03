"""Group commit: what arrives while a batch is being written waits and goes into the next.

The worker records outcomes this way and the simulator applies its operations this way:
under load, many callers share one transaction (one BEGIN, one COMMIT, one statement per
kind of row) instead of queueing for a transaction each; alone, a caller waits for nothing.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger("vpsorg.batches")

T = TypeVar("T")
R = TypeVar("R")


class Batches(Generic[T, R]):
    """`submit(item)` returns `write([..., item, ...])`'s result for `item`.

    `write` gets the items submitted since the last batch began, in order, and returns one
    result each. Should a batch fail, each of its items is written alone, so one cannot sink
    the rest; an item that fails alone raises its error to its own caller."""

    def __init__(self, write: Callable[[list[T]], Awaitable[list[R]]], *, what: str) -> None:
        self._write = write
        self._what = what
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                try:
                    results = await self._write([item for item, _ in batch])
                except Exception as exc:
                    if len(batch) == 1:
                        _fail(batch[0][1], exc)
                        continue
                    log.warning("%s: %d together failed (%s); each alone", self._what, len(batch), exc)
                    for item, done in batch:
                        try:
                            (result,) = await self._write([item])
                        except Exception as one:
                            _fail(done, one)
                        else:
                            _give(done, result)
                    continue
                for (_, done), result in zip(batch, results, strict=True):
                    _give(done, result)
            except asyncio.CancelledError:
                # shutting down: whoever still waits learns it rather than waiting forever
                for _, done in batch + self._pending:
                    done.cancel()
                self._pending = []
                raise


def _give(done: asyncio.Future[R], result: R) -> None:
    if not done.done():  # a caller that was cancelled meanwhile no longer waits
        done.set_result(result)


def _fail(done: asyncio.Future[R], exc: BaseException) -> None:
    if not done.done():
        done.set_exception(exc)
