"""Agents ``normalize`` (raw reads -> normalised, deduplicated reads) and ``dedup-ticks``.

A raw read is decoded and normalised (``stages/normalize.py``), then folded into its
camera's passes (``passes.PassBook``); the reads of passes now due go on to ``reads``.
A held pass is due when its settle time is up, with no read to notice it: the
``dedup-settle`` timer asks for it with a tick to the camera's partition of the ticks
topic, since Faust writes a table only inside a stream event of the key's partition,
and the ``dedup-ticks`` agent sends the pass from there. The same tick forgets a camera
idle long enough.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from functools import partial

from faust.types import EventT, StreamT

from pipelines import metrics
from pipelines.runtime.context import Context
from pipelines.runtime.guard import Guard
from pipelines.runtime.passes import TABLE, PassBook
from pipelines.runtime.wiring import Wiring
from pipelines.stages import dedup, normalize
from pipelines.stages.dedup import DedupPolicy
from schemas.records import PlateRead, utcnow

log = logging.getLogger(__name__)

FORGOTTEN_STAGE = "dedup-cameras"


class Dedup:
    """The two agents and the timer, around one ``PassBook``."""

    def __init__(
        self, ctx: Context, book: PassBook, clock: Callable[[], float] = time.time
    ) -> None:
        self.ctx = ctx
        self.book = book
        self.clock = clock
        """Worker time, epoch seconds: when reads arrive, and settle times."""
        self.normalize = Guard(ctx, normalize.STAGE)
        self.dedup = Guard(ctx, dedup.STAGE)
        # Reads and ticks both change the passes; the sends between fold and commit
        # must not interleave with another event's.
        self.lock = asyncio.Lock()

    # --- normalize ------------------------------------------------------------------

    async def consume_reads(self, stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await self.on_read(event)

    async def on_read(self, event: EventT[bytes]) -> None:
        read = await self.normalize.step(event, partial(self._normalized, event.message.value))
        if read is None:
            return
        metrics.count(normalize.STAGE, "ok")
        metrics.observe_age(normalize.STAGE, [read.collected_at])
        await self.dedup.run(event, partial(self._fold, read, event.message.partition))

    def _normalized(self, value: bytes | None) -> PlateRead:
        read = PlateRead.decode(self.ctx.codec, value)
        return normalize.normalize_read(
            read, self.ctx.settings.retention_for(read.agency_ori), utcnow()
        )

    async def _fold(self, read: PlateRead, partition: int) -> None:
        async with self.lock:
            group, folded = self.book.fold(read, partition, self.clock())
            if folded.redelivered:
                metrics.count(dedup.STAGE, "redelivered")
            elif folded.duplicate:
                metrics.count(dedup.STAGE, "duplicate")
            await self._send(folded.sent)
            self.book.commit(group)

    async def _send(self, reads: Sequence[PlateRead]) -> None:
        for read in reads:
            # One outcome per read: "ok" for the read a pass sends, "duplicate" (counted
            # when folded) for each of the others.
            metrics.count(dedup.STAGE, "ok")
            await self.ctx.send_read(read)

    # --- the settle timer and its ticks ------------------------------------------------

    async def request_settled(self) -> None:
        """Asks for each camera due (a held pass to send, or the camera to forget)."""
        try:
            for camera_id, partition in self.book.take_due(self.clock()):
                await self.ctx.out.send(
                    self.ctx.topics.dedup_ticks,
                    camera_id.encode(),
                    camera_id.encode(),
                    partition=partition,
                )
        except Exception:
            # The camera is asked for again (PASS_RETRY_SECONDS); the timer goes on.
            log.exception("%s: settle ticks not sent", dedup.STAGE)

    async def consume_ticks(self, stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await self.on_tick(event)

    async def on_tick(self, event: EventT[bytes]) -> None:
        await self.dedup.run(event, partial(self._settle, event))

    async def _settle(self, event: EventT[bytes]) -> None:
        camera_id = (event.message.value or b"").decode(errors="replace")
        async with self.lock:
            settled = self.book.settle(camera_id, event.message.partition, self.clock())
            if settled is None:
                return  # a stale tick
            await self._send(settled.sent)
            self.book.commit(camera_id, forget=settled.idle)
            if settled.idle:
                metrics.count(FORGOTTEN_STAGE, "forgotten")


def policy(ctx: Context) -> DedupPolicy:
    return DedupPolicy.from_settings(ctx.settings)


def register(wiring: Wiring) -> Dedup:
    ctx = wiring.ctx
    table = wiring.table(TABLE)
    book = PassBook(table, ctx.codec, policy(ctx), ctx.settings.dedup_sites)
    wiring.keep_current(table, book.mirror)
    agents = Dedup(ctx, book)
    wiring.agent(ctx.topics.raw_reads, "normalize", agents.consume_reads)
    # A held pass is sent at most this long after its settle time is up.
    interval = max(0.1, book.policy.settle_seconds / 4)
    wiring.timer(interval, "dedup-settle", agents.request_settled)
    wiring.agent(ctx.topics.dedup_ticks, "dedup-ticks", agents.consume_ticks)
    metrics.DEDUP_PASSES.set_function(lambda: len(book))
    return agents
