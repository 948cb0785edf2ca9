"""A batched sink into Cassandra: the base of the store agents.

A sink takes the events of its topic in batches (``store_batch_size``, waiting at most
``store_batch_seconds``), decodes each (a record that does not decode is dead-lettered
alone), and writes the batch with one ``write`` call, which gives one ``RowOutcome`` per
record: stored (``ok``), stored before with the same values (``already_stored``: an
audit event delivered again), refused as past retention (``expired``), or failed (a dead
letter with the row's error). While Cassandra is down the write is retried and the batch
(so the partition) held; a record kind only brings its ``decode`` and ``write``.

The events are taken without Faust's acknowledgement (``noack_take``: ``take_events``
acknowledges a batch as soon as the next one is asked for). A sink writes up to
``in_flight`` batches at once and acknowledges each once it is written, in the order
taken (``in_flight.InOrder``); only a sink whose writes are upserts that need nothing
of the batch before may write more than one at once.
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
from pipelines.runtime.in_flight import InOrder, acknowledge
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
        *,
        in_flight: int = 1,
    ) -> None:
        """``write(store, records)`` runs on the blocking executor; ``written(records)``
        after each batch is written; ``in_flight``: batches written at once."""
        self.ctx = ctx
        self.in_flight = in_flight
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
        # Faust hands agents a Stream; its interface type lacks noack_take, which yields
        # the events themselves (typed as values).
        taking = cast(Stream[bytes], stream)
        batches = InOrder(self.in_flight)
        try:
            async for taken in taking.noack_take(
                settings.store_batch_size, within=settings.store_batch_seconds
            ):
                events = cast(list[EventT[bytes]], taken)
                await batches.add(self.on_batch(events), partial(acknowledge, taking, events))
            await batches.drain()
        finally:
            batches.cancel()

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
