"""A batched sink into Cassandra: the base of the store agents.

A sink takes the events of its topic in batches (``store_batch_size``, waiting at most
``store_batch_seconds``), decodes each (a record that does not decode is dead-lettered
alone), and writes the batch with one ``write`` call, which gives one ``RowOutcome`` per
record: stored (``ok``), stored before with the same values (``already_stored``: an
audit event delivered again), refused as past retention (``expired``), or failed (a dead
letter with the row's error). While Cassandra is down the write is retried and the batch
(so the partition) held; a record kind only brings its ``decode`` and ``write``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Generic, TypeVar, cast

from faust.streams import Stream
from faust.types import EventT, StreamT

from connectors.cassandra import CassandraStore, RowOutcome
from pipelines import metrics
from pipelines.runtime.context import Context
from pipelines.runtime.guard import Guard
from schemas import Codec
from schemas.errors import PermanentError

R = TypeVar("R")

Decode = Callable[[Codec, bytes | None], R]
Write = Callable[[CassandraStore, Sequence[R]], list[RowOutcome]]


class BatchedSink(Generic[R]):
    def __init__(
        self,
        ctx: Context,
        stage: str,
        decode: Decode[R],
        write: Write[R],
        written: Callable[[Sequence[R]], None] = lambda _records: None,
    ) -> None:
        """``write(store, records)`` runs on the blocking executor; ``written(records)``
        after each batch is written."""
        self.ctx = ctx
        # A record's latency is its share of the batch's (decode, write, outcomes).
        self.guard = Guard(ctx, stage, times_steps=False)
        self._decode = decode
        self._write = write
        self._written = written

    @property
    def stage(self) -> str:
        return self.guard.stage

    async def consume(self, stream: StreamT[bytes]) -> None:
        settings = self.ctx.settings
        # Faust hands agents a Stream; its interface type lacks take_events.
        async for events in cast(Stream[bytes], stream).take_events(
            settings.store_batch_size, within=settings.store_batch_seconds
        ):
            await self.on_batch(events)

    async def on_batch(self, events: Sequence[EventT[bytes]]) -> None:
        with metrics.timed_batch(self.stage, len(events)):
            await self._on_batch(events)

    async def _on_batch(self, events: Sequence[EventT[bytes]]) -> None:
        records: list[R] = []
        kept: list[EventT[bytes]] = []
        for event in events:
            record = await self.guard.step(
                event, partial(self._decode, self.ctx.codec, event.message.value)
            )
            if record is not None:
                records.append(record)
                kept.append(event)
        if not records:
            return
        outcomes = await self.guard.run_batch(kept, partial(self._store, records))
        if outcomes is None:
            return
        for event, outcome in zip(kept, outcomes, strict=True):
            if outcome.already_stored:
                # Delivered again (a restart), and the store holds it as it is: stored.
                metrics.count(self.stage, "already_stored")
            elif outcome.ok:
                metrics.count(self.stage, "ok")
            elif outcome.expired:
                metrics.count(self.stage, "expired")
            else:
                await self.guard.dead_letter(event, PermanentError(outcome.error))

    async def _store(self, records: Sequence[R]) -> list[RowOutcome]:
        outcomes = await self.guard.store(lambda store: self._write(store, records))
        if len(outcomes) != len(records):
            raise RuntimeError(f"{len(outcomes)} outcomes for {len(records)} records")
        self._written(records)
        return outcomes
