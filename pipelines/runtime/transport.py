"""The worker's Faust transport, reading committed records only.

Faust's consumer reads uncommitted records unless Faust itself runs transactions
(``processing_guarantee="exactly_once"``, which lprx does not use: see ``share.py``). The
share stage writes its audit events in Kafka transactions, so an agent reading them
(``store-audit``) must not see those of a transaction that was aborted: this transport
is Faust's aiokafka one with ``isolation.level=read_committed``. Records written outside
transactions read as before.

Its consumer commits past no offset its fetch did not deliver until Kafka says the
offset holds no record (``connectors.kafka.holes``): Faust takes a jump in a partition's
offsets for markers or aborted records, and commits past it, but a jump can also be
records fetched before a seek and delivered after it, so that the records after the seek
are dropped as read; a fault run lost thousands of reads so. And it watches for a
partition whose commits stall on records Faust took and dropped, and reads those again
(``_watch_stall``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from faust.transport.drivers import aiokafka as driver

from connectors.kafka.holes import NO_RECORD
from pipelines import metrics

log = logging.getLogger(__name__)

ISOLATION_LEVEL = "read_committed"
STALL_READ_AGAIN_S = 15.0
"""How long a partition's commits may wait on records no one is processing."""


@dataclass
class Stall:
    committed: int
    lowest: int
    since: float


class HoleCheck(Protocol):
    """``HoleReader.first_record``: the first record in ``[start, end)``, ``NO_RECORD``
    if none, None if it cannot tell (blocking)."""

    def __call__(self, topic: str, partition: int, start: int, end: int) -> int | None: ...


class _ReadCommittedThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this to its fetcher when the consumer starts (after this).
        consumer._isolation_level = ISOLATION_LEVEL
        return consumer


class _ReadCommittedConsumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ReadCommittedThread(self, loop=self.loop, beacon=self.beacon)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        # Faust passes the offset of the record after the gap: the gap ends before it.
        # And the committed offset is the next to read, so a gap may start there (Faust
        # starts it one later, and then commits past the head on its own, see below).
        committed, read = self._committed_offset[tp], self._read_offset.get(tp)
        if committed is not None:
            offset_from = max(offset_from, committed)
            if read is not None and read <= committed and not self._taken(tp, committed):
                # The read offset was set by a seek to the committed offset: that one
                # has not been read either.
                offset_from = committed
        if offset_from >= offset_to:
            return
        trusted: frozenset[str] = getattr(self.transport, "compacted_topics", frozenset())
        if offset_to - offset_from == 1 or tp.topic in trusted:
            # One offset: the marker Kafka writes after each transaction. On a compacted
            # topic, records compaction removed were superseded by a later one per key.
            gaps = self._gap[tp]
            gaps.addi(offset_from, offset_to)
            await asyncio.sleep(0)
            gaps.merge_overlaps()
            return
        # More: an aborted transaction, or records fetched before a seek and delivered
        # after it, so that those after the seek are dropped as read (a rebalance, or a
        # read-again). Faust would commit past them; here Kafka is asked first.
        log.warning(
            "%s: the fetch jumped over offsets %d-%d (committed %s, read up to %s): "
            "nothing is committed past them until they are read, or shown to hold no "
            "record",
            tp, offset_from, offset_to - 1, committed, read,
        )  # fmt: skip
        self._check_hole(tp, offset_from, offset_to)

    def _taken(self, tp: Any, offset: int) -> bool:
        """Whether Faust has taken the record at ``offset``: acknowledged or in work."""
        return offset in (self._acked.get(tp) or ()) or any(
            m.tp == tp and m.offset == offset for m in list(self._unacked_messages)
        )

    def _new_offset(self, tp: Any) -> int | None:
        # Faust commits past the committed offset when it alone is not acknowledged
        # (faust-streaming #606): a record taken and dropped there would be lost. Here
        # such a head waits like any other gap, unless Faust knows it is no record.
        acked, committed = self._acked.get(tp), self._committed_offset.get(tp)
        head_alone = acked and committed and min(acked) - committed == 1
        if head_alone and not self._gap[tp].overlaps(committed):
            self._watch_stall(tp)
            return None
        offset: int | None = super()._new_offset(tp)
        if offset is None:
            self._watch_stall(tp)
        return offset

    def _watch_stall(self, tp: Any) -> None:
        """Faust commits nothing of a partition while its lowest acknowledged offset is
        past the committed one. After a rebalance it can drop records it had taken
        without acknowledging them (faust-streaming issue #596), or its fetch jumped
        over records (``_add_gap``), and then the partition's commits wait for good. So
        a stall is said once, with what Faust holds; each ``STALL_READ_AGAIN_S`` it
        lasts with no record below the acknowledged ones in work, Kafka is asked what
        the offsets it waits on hold: records are read again from the committed offset
        (at least once, as after a restart: every stage takes a record again without
        harm); offsets that hold none (a transaction's marker, an aborted transaction)
        are passed over. Never a commit past a record not processed."""
        acked, committed = self._acked.get(tp), self._committed_offset.get(tp)
        stalls: dict[Any, Stall] = self.__dict__.setdefault("_stalls", {})
        if not acked or not committed or min(acked) <= committed:
            stalls.pop(tp, None)
            return
        lowest, now = min(acked), time.monotonic()
        stall = stalls.get(tp)
        pending = sorted(m.offset for m in list(self._unacked_messages) if m.tp == tp)
        if stall is None or (stall.committed, stall.lowest) != (committed, lowest):
            stalls[tp] = Stall(committed, lowest, now)
            log.warning(
                "%s: commits wait at offset %d: acknowledged from %d (%d offsets), gaps "
                "%s, read up to %s, not yet acknowledged %s",
                tp, committed, lowest, len(acked), sorted(self._gap[tp]),
                self._read_offset.get(tp), pending[:20],
            )  # fmt: skip
            return
        in_work = any(offset < lowest for offset in pending)
        if in_work or now - stall.since < STALL_READ_AGAIN_S:
            return
        stall.since = now  # asked again after as long, while the stall lasts
        self._check_hole(tp, committed, lowest)

    def _check_hole(self, tp: Any, start: int, end: int) -> None:
        """Asks Kafka (in a thread) what offsets ``[start, end)`` of ``tp`` hold, then
        settles them (``_settle_hole``): one question per partition at a time, the
        others wait their turn."""
        # Each question with the generation it was asked in: an answer after a
        # rebalance is not acted on (the partition's owner reads from its commit).
        waiting: dict[Any, list[tuple[int, int, int]]] = self.__dict__.setdefault("_holes", {})
        waiting.setdefault(tp, []).append((start, end, self.app.consumer_generation_id))
        checks: dict[Any, asyncio.Future[None]] = self.__dict__.setdefault("_hole_checks", {})
        if tp in checks:
            return
        task = asyncio.ensure_future(self._settle_holes(tp))
        checks[tp] = task
        task.add_done_callback(lambda _done: checks.pop(tp, None))

    async def _settle_holes(self, tp: Any) -> None:
        waiting: dict[Any, list[tuple[int, int, int]]] = self.__dict__["_holes"]
        while waiting.get(tp):
            start, end, generation = waiting[tp].pop(0)
            read_again = await self._settle_hole(tp, start, end, generation)
            if read_again is not None:  # what waits past it is read again too
                waiting[tp] = [hole for hole in waiting[tp] if hole[0] < read_again]
        waiting.pop(tp, None)

    async def _settle_hole(self, tp: Any, start: int, end: int, generation: int) -> int | None:
        """Passes over ``[start, end)`` if Kafka says it holds no record; reads the
        partition again from ``start`` if it holds one (returns ``start``)."""
        check: HoleCheck | None = getattr(self.transport, "hole_check", None)
        first: int | None = start  # no one to ask: read again, which is always safe
        if check is not None:
            try:
                first = await asyncio.to_thread(check, tp.topic, tp.partition, start, end)
            except Exception:  # Kafka not answering, say: asked again while it lasts
                log.exception("%s: offsets %d-%d could not be checked", tp, start, end - 1)
                first = None
        if self.app.consumer_generation_id != generation or tp not in self.assignment():
            return None  # a rebalance since: the partition's next owner reads from its commit
        outcome = {NO_RECORD: "passed_over", None: "unknown"}.get(first, "read_again")
        metrics.CONSUMER_HOLES.labels(outcome).inc()
        if first == NO_RECORD:
            log.warning("%s: offsets %d-%d hold no record (Kafka says): passed over",
                        tp, start, end - 1)  # fmt: skip
            gaps = self._gap[tp]
            gaps.addi(start, end)
            gaps.merge_overlaps()
            return None
        if first is None:
            log.warning("%s: offsets %d-%d could not be checked; commits wait, and they "
                        "are checked again", tp, start, end - 1)  # fmt: skip
            return None
        log.warning("%s: offsets %d-%d hold records (the first at %d), never "
                    "acknowledged: reading again from %d", tp, start, end - 1, first,
                    start)  # fmt: skip
        await self._read_again(tp, start)
        return start

    async def _read_again(self, tp: Any, offset: int) -> None:
        try:
            await self.seek(tp, offset)
        except Exception:  # not assigned any more (a rebalance): its next owner reads it
            log.exception("%s: could not read again from %d", tp, offset)


class ReadCommittedTransport(driver.Transport):
    Consumer = _ReadCommittedConsumer
    hole_check: HoleCheck | None = None
    """Set by the app (``HoleReader.first_record``); without it nothing is passed over."""
    compacted_topics: frozenset[str] = frozenset()
    """Topics whose gaps are compaction's (set by the app): passed over unasked."""
