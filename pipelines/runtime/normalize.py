"""Agents ``normalize`` (raw reads -> normalised reads for matching, and the best read of
each pass for the store) and ``dedup-ticks``.

Raw reads come in batches (``normalize_batch_size``, waiting at most
``normalize_batch_seconds``). A raw read is decoded and normalised
(``stages/normalize.py``) and sent at once to ``reads.normalized``, which the match stage
consumes (or, when this worker runs stage ``match`` too, the batch is matched here, one
hop fewer): no hit waits for dedup, and no spelling is dropped unmatched. Then it is
folded into its camera's passes (``passes.PassBook``), which decide what is stored: the
best read of each pass goes to ``reads`` once its settle time is up. A held pass is due
with no read to notice it: the ``dedup-settle`` timer asks for the cameras due with one
tick per partition of the ticks topic, since Faust writes a table only inside a stream
event of the key's partition, and the ``dedup-ticks`` agent sends their passes from
there. The same tick forgets a camera idle long enough. After its partitions are
assigned (a start, a rebalance), a worker settles no pass of a partition until it has
read (and committed) the raw reads that partition held then (``CatchingUp``): a pass held
when the last worker stopped may be overdue, and the better read of it may be in that
backlog.

A batch is folded under one lock, its passes' reads sent with one acknowledged send and
each camera written once (inside an event of its partition, ``wiring.within_event``).
The batches taken while one is folded are folded next, together, as one
(``in_flight.Coalesced``): a fold's time is Kafka's round trips, not its size. A
batch that fails other than by an outage is folded again read by read, so a read that
breaks dedup is its own dead letter. A pass is recorded as sent (its table entry, so its
changelog) only after Kafka has acknowledged its read on ``reads``: a worker killed in
between sends it again after recovery (the store's upsert by read id absorbs the
duplicate), never loses it. A batch (or tick) is acknowledged only once Kafka has the
changelog records of what it wrote (``wiring.DeliveredTable``): committed past a fold
whose record was lost, the next worker would recover the pass without the batch's reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import cast

from faust.streams import Stream
from faust.types import EventT, StreamT

from pipelines import metrics
from pipelines.runtime.context import Context
from pipelines.runtime.guard import Guard
from pipelines.runtime.in_flight import Coalesced, acknowledge
from pipelines.runtime.match import Match
from pipelines.runtime.passes import TABLE, PassBook
from pipelines.runtime.wiring import JsonValues, Wiring, within_event
from pipelines.stages import dedup, normalize
from pipelines.stages.dedup import DedupPolicy
from schemas.records import PlateRead, utcnow

log = logging.getLogger(__name__)

FORGOTTEN_STAGE = "dedup-cameras"


def tick_value(cameras: Sequence[str]) -> bytes:
    return json.dumps(list(cameras)).encode()


def tick_cameras(value: bytes | None) -> list[str]:
    """The cameras a tick asks for: a JSON list, or one camera id (older ticks)."""
    text = (value or b"").decode(errors="replace")
    try:
        cameras = json.loads(text)
    except ValueError:
        return [text]
    if isinstance(cameras, list) and all(isinstance(c, str) for c in cameras):
        return cameras
    return [text]


Positions = dict[int, tuple[int, int]]
"""Partition -> (where its group's commits stand, its end offset)."""


class CatchingUp:
    """The partitions of ``reads.raw`` whose backlog this worker has not yet read: each
    with the end offset it had when the worker first asked after its partitions were
    assigned. No pass of such a partition is settled until the group's commits reach
    that end: settled sooner, a pass could be stored without a better read of it that
    the last worker never took. The commits, not the reads folded, say so: Faust can
    drop records it took and read them again later (``transport.py``), and it commits
    past no record not processed. Kafka is asked at most every ``ask_every_s`` while a
    partition is behind; a backlog Kafka cannot tell is taken as none (a pass is then due
    at once, as before the worker knew of backlogs)."""

    def __init__(
        self,
        positions: Callable[[], Awaitable[Positions]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        ask_every_s: float = 1.0,
    ) -> None:
        self._positions = positions
        self._clock = clock
        self._ask_every_s = ask_every_s
        self._behind: dict[int, int] | None = None if positions else {}
        self._asked_at = -ask_every_s
        self._generation = 0

    def forget(self) -> None:
        """Partitions move: the backlog is asked for again."""
        self._behind = None if self._positions else {}
        self._asked_at = -self._ask_every_s
        self._generation += 1

    async def refresh(self) -> bool:
        """Whether the backlog since the assignment is known; asks Kafka for it first if
        it is not, or for how far the commits have come if a partition is behind."""
        behind = self._behind
        if self._positions is None or behind == {}:
            return True
        now = self._clock()
        if now - self._asked_at < self._ask_every_s:
            return behind is not None
        self._asked_at, generation = now, self._generation
        try:
            positions = await self._positions()
        except Exception as error:
            log.warning("%s: backlog not known (%s); passes settle now", dedup.STAGE, error)
            positions = {}
        if generation != self._generation:
            return False  # asked across a rebalance: ask again
        if behind is None:
            behind = {p: end for p, (committed, end) in positions.items() if committed < end}
            if behind:
                log.info("%s: passes settle once the backlog is read: %s", dedup.STAGE, behind)
        else:
            for partition, (committed, _) in positions.items():
                if partition in behind and committed >= behind[partition]:
                    del behind[partition]
                    log.info("%s: partition %d caught up", dedup.STAGE, partition)
        self._behind = behind
        return True

    def settling(self, partition: int) -> bool:
        return self._behind is not None and partition not in self._behind


@dataclass(frozen=True)
class Normalized:
    """A raw read's event, the read normalised, and its Avro bytes (sent to matching)."""

    event: EventT[bytes]
    read: PlateRead
    value: bytes


class Dedup:
    """The two agents and the timer, around one ``PassBook``."""

    def __init__(
        self,
        ctx: Context,
        book: PassBook,
        clock: Callable[[], float] = time.time,
        matcher: Match | None = None,
        changelog_delivered: Callable[[], Awaitable[None]] | None = None,
        catching_up: CatchingUp | None = None,
    ) -> None:
        self.ctx = ctx
        self.catching_up = catching_up or CatchingUp()
        self.book = book
        self.changelog_delivered = changelog_delivered or _nothing_in_flight
        """Until Kafka has the table's changelog records (``DeliveredTable``): a batch
        or a tick is acknowledged only once the passes it wrote are."""
        self.matcher = matcher
        """This worker's match stage, when it runs one: reads are matched here, in the
        batch, instead of through ``reads.normalized``."""
        self.clock = clock
        """Worker time, epoch seconds: when reads arrive, and settle times."""
        self.normalize = Guard(ctx, normalize.STAGE)
        self.dedup = Guard(ctx, dedup.STAGE)
        # Reads and ticks both change the passes; the sends between fold and commit
        # must not interleave with another event's.
        self.lock = asyncio.Lock()

    # --- normalize ------------------------------------------------------------------

    async def consume_reads(self, stream: StreamT[bytes]) -> None:
        if self.matcher is not None:
            await self.ctx.wait_for_followers()  # matching needs the hotlist loaded
        settings = self.ctx.settings
        # Faust hands agents a Stream; its interface type lacks noack_take, which yields
        # the events themselves (typed as values).
        taking = cast(Stream[bytes], stream)
        # Folded in order after the batches before, acknowledged once folded; batches
        # taken while one is folded are folded together next.
        folds: Coalesced[Normalized, EventT[bytes]] = Coalesced(
            self._fold_batch,
            partial(self._acknowledge, taking),
            settings.normalize_folds_in_flight * settings.normalize_batch_size,
        )
        try:
            async for taken in taking.noack_take(
                settings.normalize_batch_size, within=settings.normalize_batch_seconds
            ):
                events = cast(list[EventT[bytes]], taken)
                await folds.add(await self._normalize_and_match(events), events)
            await folds.drain()
        finally:
            folds.cancel()

    async def _acknowledge(self, stream: StreamT[bytes], events: Sequence[EventT[bytes]]) -> None:
        await self.changelog_delivered()
        await acknowledge(stream, events)

    async def on_read(self, event: EventT[bytes]) -> None:
        await self.on_reads([event])

    async def on_reads(self, events: Sequence[EventT[bytes]]) -> None:
        """A batch of raw reads: each decoded, normalised and forwarded to matching on
        its own (a bad one is its own dead letter), then all folded under one lock with
        one acknowledged send and one table write per camera."""
        await self._fold_batch(await self._normalize_and_match(events))

    async def _normalize_and_match(self, events: Sequence[EventT[bytes]]) -> list[Normalized]:
        """The batch normalised and, in a worker of stage match too, matched: its hits
        are sent before it is folded, so none waits for dedup's lock."""
        with metrics.timed_batch(normalize.STAGE, len(events)):
            forwarded = await self._normalize_all(events)
        if self.matcher is not None:
            await self.matcher.on_reads([i.event for i in forwarded], [i.read for i in forwarded])
        return forwarded

    async def _normalize_all(self, events: Sequence[EventT[bytes]]) -> list[Normalized]:
        forwarded: list[Normalized] = []
        for event in events:
            read = await self.normalize.step(event, partial(self._normalized, event.message.value))
            if read is None:
                continue
            # Encoded once: the bytes matching gets are those the pass holds.
            value = read.encode(self.ctx.codec)
            forward = self.matcher is None
            if forward and not await self.normalize.run(event, partial(self._forward, read, value)):
                continue
            forwarded.append(Normalized(event, read, value))
        metrics.count(normalize.STAGE, "ok", len(forwarded))
        metrics.observe_age(normalize.STAGE, [item.read.collected_at for item in forwarded])
        return forwarded

    def _normalized(self, value: bytes | None) -> PlateRead:
        read = PlateRead.decode(self.ctx.codec, value)
        return normalize.normalize_read(
            read, self.ctx.settings.retention_for(read.agency_ori), utcnow()
        )

    async def _forward(self, read: PlateRead, value: bytes) -> bool:
        """To matching, before dedup: a hit waits for nothing."""
        await self.ctx.send_normalized_read(read, value)
        return True

    async def _fold_batch(self, items: Sequence[Normalized]) -> None:
        """The batch folded as one; if that fails for good (not an outage, which holds
        the batch), each read on its own, so a read that breaks dedup gets its dead
        letter and the others their passes."""
        if not items:
            return
        if len(items) > 1 and await self.dedup.attempt(partial(self._fold_all, items)):
            return
        for item in items:
            await self.dedup.run(item.event, partial(self._fold_all, [item]))

    async def _fold_all(self, items: Sequence[Normalized]) -> None:
        async with self.lock:
            try:
                await self._fold_locked(items)
            except Exception:
                # Memory may hold folds nothing records: the table is the truth.
                self.book.mirror.reload()
                raise

    async def _fold_locked(self, items: Sequence[Normalized]) -> None:
        now = self.clock()
        sent: list[PlateRead] = []
        touched: dict[str, EventT[bytes]] = {}
        counts = {"redelivered": 0, "duplicate": 0}
        for item in items:
            partition = item.event.message.partition
            group, folded = self.book.fold(item.read, partition, now, item.value)
            touched[group] = item.event
            if folded.redelivered:
                counts["redelivered"] += 1
            elif folded.duplicate:
                counts["duplicate"] += 1
            sent += folded.sent
        await self._send(sent)
        for group, event in touched.items():
            # Faust writes a table key to the current event's partition: the group's.
            with within_event(event):
                self.book.commit(group)
        for outcome, n in counts.items():
            if n:
                metrics.count(dedup.STAGE, outcome, n)

    async def _send(self, reads: Sequence[PlateRead]) -> None:
        """The passes' reads to the store, acknowledged before anything records them as
        sent. One outcome per read: "ok" for the read a pass sends, "duplicate" (counted
        when folded) for each of the others."""
        if not reads:
            return
        try:
            await self.ctx.send_reads_acknowledged(reads)
        except Exception:
            # Memory already calls these passes sent; the table still holds them, so
            # memory is decoded from it again, and the guard tries the event again
            # (SendUnacknowledged is transient: the partition waits, as for Cassandra).
            self.book.mirror.reload()
            raise
        metrics.count(dedup.STAGE, "ok", len(reads))

    # --- the settle timer and its ticks ------------------------------------------------

    async def request_settled(self) -> None:
        """Asks for the cameras due (a held pass to send, or the camera to forget), one
        tick per partition, so one acknowledged send covers a partition's passes."""
        try:
            if not await self.catching_up.refresh():
                return
            by_partition: dict[int, list[str]] = defaultdict(list)
            due = self.book.take_due(self.clock(), self.catching_up.settling)
            for camera_id, partition in due:
                by_partition[partition].append(camera_id)
            for partition, cameras in by_partition.items():
                await self.ctx.out.send(
                    self.ctx.topics.dedup_ticks,
                    cameras[0].encode(),
                    tick_value(cameras),
                    partition=partition,
                )
        except Exception:
            # The cameras are asked for again (PASS_RETRY_SECONDS); the timer goes on.
            log.exception("%s: settle ticks not sent", dedup.STAGE)

    async def consume_ticks(self, stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await self.on_tick(event)

    async def on_tick(self, event: EventT[bytes]) -> None:
        await self.dedup.run(event, partial(self._settle, event))
        await self.changelog_delivered()  # Faust acknowledges the tick once this returns

    async def _settle(self, event: EventT[bytes]) -> None:
        partition = event.message.partition
        if not self.catching_up.settling(partition):
            return  # a tick from before the assignment: the timer asks again once caught up
        async with self.lock:
            now = self.clock()
            settled = [
                (camera_id, result)
                for camera_id in tick_cameras(event.message.value)
                if (result := self.book.settle(camera_id, partition, now)) is not None
            ]  # a camera forgotten, or now in another partition, is a stale ask
            await self._send([read for _, result in settled for read in result.sent])
            for camera_id, result in settled:
                self.book.commit(camera_id, forget=result.idle)
                if result.idle:
                    metrics.count(FORGOTTEN_STAGE, "forgotten")


async def _nothing_in_flight() -> None:
    """A table that is not Faust's (a dict, in tests) writes nothing to wait for."""


def policy(ctx: Context) -> DedupPolicy:
    return DedupPolicy.from_settings(ctx.settings)


def register(wiring: Wiring, matcher: Match | None = None) -> Dedup:
    ctx = wiring.ctx
    table = wiring.table(TABLE)
    book = PassBook(JsonValues(table), ctx.codec, policy(ctx), ctx.settings.dedup_sites)
    wiring.keep_current(table, book.mirror)
    catching_up = CatchingUp(partial(wiring.committed_positions, ctx.topics.raw_reads))
    wiring.on_rebalance(catching_up.forget)
    agents = Dedup(
        ctx,
        book,
        matcher=matcher,
        changelog_delivered=table.changelog_delivered,
        catching_up=catching_up,
    )
    wiring.agent(ctx.topics.raw_reads, "normalize", agents.consume_reads)
    # A held pass is sent at most this long after its settle time is up.
    interval = max(0.1, book.policy.settle_seconds / 4)
    wiring.timer(interval, "dedup-settle", agents.request_settled)
    wiring.agent(ctx.topics.dedup_ticks, "dedup-ticks", agents.consume_ticks)
    metrics.DEDUP_PASSES.set_function(lambda: len(book))
    return agents
