"""Batches written side by side, acknowledged in the order they were taken.

A sink writes up to ``limit`` batches at once, so one batch's round trip to Cassandra
overlaps the taking and writing of the next. A batch is acknowledged to Faust (its
offsets made safe to commit) only once it is done and every batch taken before it has
been acknowledged, so the committed offset only ever passes records already stored. A
batch held (Cassandra down: its guard retries it) holds every batch after it unacknowledged
and, once ``limit`` are waiting, the taking of more, so its partitions wait too. A
worker stopped or killed loses only batches not acknowledged, which Kafka delivers again
to whoever takes the partitions (each write being an upsert).

``serial``: each batch's work starts only once the batch before is acknowledged, for
work that must see the batches in their order (dedup's fold). What then overlaps a
batch's work is the taking of the next and what its taker does first (normalising and
matching it: no hit waits for the fold of the batch before).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from faust.types import EventT, StreamT

Acknowledge = Callable[[], Awaitable[None]]


async def acknowledge(stream: StreamT[Any], events: Sequence[EventT[Any]]) -> None:
    """The events' offsets made safe to commit (Faust commits up to the first not)."""
    for event in events:
        await stream.ack(event)


class InOrder:
    """At most ``limit`` batches in flight; each acknowledged in turn once done."""

    def __init__(self, limit: int, *, serial: bool = False) -> None:
        if limit < 1:
            raise ValueError(f"at least one batch in flight, not {limit}")
        self._limit = limit
        self._run = _after if serial else _in_turn
        # A batch's task ends once it is acknowledged, so the tasks end in their order.
        self._pending: deque[asyncio.Task[None]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    async def add(self, write: Coroutine[Any, Any, None], acknowledge: Acknowledge) -> None:
        """Starts ``write``, acknowledged as soon as it and the batches before it are
        (not when the next batch comes: the last one of a burst would wait for it);
        returns once fewer than ``limit`` batches are in flight."""
        previous = self._pending[-1] if self._pending else None
        self._pending.append(asyncio.ensure_future(self._run(write, previous, acknowledge)))
        while self._pending and self._pending[0].done():
            self._pending.popleft().result()  # a batch's error, if it raised
        while len(self._pending) >= self._limit:
            await self._pending.popleft()

    async def drain(self) -> None:
        """Until every batch is done and acknowledged."""
        while self._pending:
            await self._pending.popleft()

    def cancel(self) -> None:
        """Stops every batch not acknowledged (the agent stopping or failing): Kafka
        delivers their records again."""
        for batch in self._pending:
            batch.cancel()
        self._pending.clear()


async def _in_turn(
    write: Coroutine[Any, Any, None], previous: asyncio.Task[None] | None, acknowledge: Acknowledge
) -> None:
    """``write``, then, once the batch before is acknowledged, ``acknowledge``. A write
    that raised (a bug: the guard handles every failure of a record) is not acknowledged,
    nor is any batch after it; the agent stops with the error."""
    await write
    if previous is not None:
        await previous
    await acknowledge()


async def _after(
    write: Coroutine[Any, Any, None], previous: asyncio.Task[None] | None, acknowledge: Acknowledge
) -> None:
    """Once the batch before is acknowledged, ``write``, then ``acknowledge``. A batch
    before that raised (or was cancelled) stops this one unstarted, unacknowledged."""
    try:
        if previous is not None:
            await previous
    except BaseException:
        write.close()  # never started: closed, so it is not reported as never awaited
        raise
    await write
    await acknowledge()
