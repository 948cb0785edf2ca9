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
        self._pending: deque[tuple[asyncio.Task[None], Acknowledge]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    async def add(self, write: Coroutine[Any, Any, None], acknowledge: Acknowledge) -> None:
        """Starts ``write``; returns once fewer than ``limit`` batches are in flight, each
        batch done at the head acknowledged (with ``limit`` 1, once ``write`` is)."""
        self._pending.append((asyncio.ensure_future(write), acknowledge))
        while self._pending and (len(self._pending) >= self._limit or self._pending[0][0].done()):
            await self._finish_first()

    async def drain(self) -> None:
        """Until every batch is done and acknowledged."""
        while self._pending:
            await self._finish_first()

    async def _finish_first(self) -> None:
        write, acknowledge = self._pending[0]
        # A write that raised (a bug: the guard handles every failure of a record) is
        # not acknowledged, nor is anything after it; the agent stops with the error.
        await write
        self._pending.popleft()
        await acknowledge()

    def cancel(self) -> None:
        """Stops every batch not acknowledged (the agent stopping or failing): Kafka
        delivers their records again."""
        for write, _ in self._pending:
            write.cancel()
        self._pending.clear()
