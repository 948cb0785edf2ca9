"""Batches written side by side, acknowledged in the order they were taken.

A sink writes up to ``limit`` batches at once, so one batch's round trip to Cassandra
overlaps the taking and writing of the next. A batch is acknowledged to Faust (its
offsets made safe to commit) only once it is done and every batch taken before it has
been acknowledged, so the committed offset only ever passes records already stored. A
batch held (Cassandra down: its guard retries it) holds every batch after it unacknowledged
and, once ``limit`` are waiting, the taking of more, so its partitions wait too. A
worker stopped or killed loses only batches not acknowledged, which Kafka delivers again
to whoever takes the partitions (each write being an upsert).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

Acknowledge = Callable[[], Awaitable[None]]


class InOrder:
    """At most ``limit`` batches in flight; each acknowledged in turn once done."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"at least one batch in flight, not {limit}")
        self._limit = limit
        # A batch's task ends once it is acknowledged, so the tasks end in their order.
        self._pending: deque[asyncio.Task[None]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    async def add(self, write: Coroutine[Any, Any, None], acknowledge: Acknowledge) -> None:
        """Starts ``write``, acknowledged as soon as it and the batches before it are
        (not when the next batch comes: the last one of a burst would wait for it);
        returns once fewer than ``limit`` batches are in flight."""
        previous = self._pending[-1] if self._pending else None
        self._pending.append(asyncio.ensure_future(_in_turn(write, previous, acknowledge)))
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
