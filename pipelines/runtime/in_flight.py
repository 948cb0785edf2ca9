"""Batches written side by side, acknowledged in the order they were taken.

A sink writes up to ``limit`` batches at once, so one batch's round trip to Cassandra
overlaps the taking and writing of the next. A batch is acknowledged to Faust (its
offsets made safe to commit) only once it is done and every batch taken before it has
been acknowledged, so the committed offset only ever passes records already stored. A
batch held (Cassandra down: its guard retries it) holds every batch after it unacknowledged
and, once ``limit`` are waiting, the taking of more, so its partitions wait too. A
worker stopped or killed loses only batches not acknowledged, which Kafka delivers again
to whoever takes the partitions (each write being an upsert).

``Coalesced`` is for work that must see the batches in their order and one at a time
(dedup's fold). The batches taken while one is written wait, and are then written
together, as one: a write whose cost is round trips to Kafka (an acknowledged send, the
changelog's delivery) costs the same for one batch as for ten. So when Kafka answers
slowly, the folds keep up anyway, and their taker (normalising and matching: a hit waits
for no fold) does not stop behind a queue of small folds.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

from faust.types import EventT, StreamT

Acknowledge = Callable[[], Awaitable[None]]
Item = TypeVar("Item")
Taken = TypeVar("Taken")


async def acknowledge(stream: StreamT[Any], events: Sequence[EventT[Any]]) -> None:
    """The events' offsets made safe to commit (Faust commits up to the first not)."""
    for event in events:
        await stream.ack(event)


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


class Coalesced(Generic[Item, Taken]):
    """One write at a time, in the order taken; what is taken while one is written
    waits, and is written next, all of it in one write. ``acknowledge`` gets what a
    write's items were taken from, once that write is done. A write that raised (a bug:
    the guard handles every failure of a record) stops every write after it unstarted,
    and nothing of it or after it is acknowledged: the taker gets the error."""

    def __init__(
        self,
        write: Callable[[list[Item]], Awaitable[None]],
        acknowledge: Callable[[list[Taken]], Awaitable[None]],
        limit: int,
    ) -> None:
        if limit < 1:
            raise ValueError(f"at least one taken record may wait, not {limit}")
        self._write = write
        self._acknowledge = acknowledge
        self._limit = limit
        self._items: list[Item] = []
        self._taken: list[Taken] = []
        self._writing: asyncio.Task[None] | None = None
        self._took = asyncio.Event()

    def __len__(self) -> int:
        """Taken records waiting for a write to start."""
        return len(self._taken)

    async def add(self, items: Sequence[Item], taken: Sequence[Taken]) -> None:
        """``items`` to write, from ``taken``; returns once fewer than ``limit`` taken
        records wait for a write (the taker's backpressure)."""
        self._raise_failure()
        self._items.extend(items)
        self._taken.extend(taken)
        if self._writing is None or self._writing.done():
            self._writing = asyncio.ensure_future(self._write_all())
        while len(self._taken) >= self._limit:
            self._took.clear()
            took = asyncio.ensure_future(self._took.wait())
            try:
                await asyncio.wait({self._writing, took}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                took.cancel()
            self._raise_failure()

    async def drain(self) -> None:
        """Until everything added is written and acknowledged."""
        if self._writing is not None:
            await self._writing

    def cancel(self) -> None:
        """Stops the write under way and drops what waits (the taker stopping or
        failing): Kafka delivers their records again."""
        if self._writing is not None:
            self._writing.cancel()
        self._items.clear()
        self._taken.clear()

    async def _write_all(self) -> None:
        while self._taken:
            items, taken = self._items, self._taken
            self._items, self._taken = [], []
            self._took.set()
            await self._write(items)
            await self._acknowledge(taken)

    def _raise_failure(self) -> None:
        writing = self._writing
        if writing is not None and writing.done() and not writing.cancelled():
            error = writing.exception()
            if error is not None:
                raise error
