"""The worker's Faust transport, reading committed records only.

Faust's consumer reads uncommitted records unless Faust itself runs transactions
(``processing_guarantee="exactly_once"``, which lprx does not use: see ``share.py``). The
share stage writes its audit events in Kafka transactions, so an agent reading them
(``store-audit``) must not see those of a transaction that was aborted: this transport
is Faust's aiokafka one with ``isolation.level=read_committed``. Records written outside
transactions read as before. Its consumer also watches for a partition whose commits
stall on records Faust took and dropped, and reads those again (``_watch_stall``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from faust.transport.drivers import aiokafka as driver

log = logging.getLogger(__name__)

ISOLATION_LEVEL = "read_committed"
STALL_READ_AGAIN_S = 15.0
"""How long a partition's commits may wait on records no one is processing."""


@dataclass
class Stall:
    committed: int
    lowest: int
    highest: int
    since: float
    read_again: bool = False
    read_past: bool = False


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
        committed = self._committed_offset[tp]
        if committed is not None:
            offset_from = max(offset_from, committed)
        if offset_from < offset_to:
            if offset_to - offset_from > 1:
                # One offset is a transaction's marker; more is an aborted transaction,
                # or records never delivered (the commit goes past them): said, to tell.
                log.warning(
                    "%s: offsets %d-%d skipped by the fetch, taken as a gap (committed "
                    "%s, read up to %s)",
                    tp, offset_from, offset_to - 1, committed, self._read_offset.get(tp),
                )  # fmt: skip
            gaps = self._gap[tp]
            gaps.addi(offset_from, offset_to)
            await asyncio.sleep(0)
            gaps.merge_overlaps()

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

    def ack(self, message: Any) -> bool:
        first = not message.acked
        acknowledged: bool = super().ack(message)
        stall = self.__dict__.get("_stalls", {}).get(message.tp)
        # An offset acknowledged before the stall's read-again, acknowledged again: a
        # copy read again, so every record before it has been read again too.
        if first and stall is not None and stall.read_again:
            stall.read_past |= stall.lowest <= message.offset <= stall.highest
        return acknowledged

    def _watch_stall(self, tp: Any) -> None:
        """Faust commits nothing of a partition while its lowest acknowledged offset is
        past the committed one. After a rebalance it can drop records it had taken
        without acknowledging them (faust-streaming issue #596), and then the
        partition's commits wait for good. So a stall is said once, with what Faust
        holds; if it lasts ``STALL_READ_AGAIN_S`` with no record below the acknowledged
        ones in work, the partition is read again from its committed offset, once per
        stall: at least once, as after a restart (every stage takes a record again
        without harm). Offsets that reading again did not deliver (a transaction's
        marker) are no records: they are passed over. Never a commit past a record
        not processed."""
        acked, committed = self._acked.get(tp), self._committed_offset.get(tp)
        stalls: dict[Any, Stall] = self.__dict__.setdefault("_stalls", {})
        if not acked or not committed or min(acked) <= committed:
            stalls.pop(tp, None)
            return
        lowest, now = min(acked), time.monotonic()
        stall = stalls.get(tp)
        pending = sorted(m.offset for m in list(self._unacked_messages) if m.tp == tp)
        if stall is None or (stall.committed, stall.lowest) != (committed, lowest):
            stalls[tp] = Stall(committed, lowest, max(acked), now)
            log.warning(
                "%s: commits wait at offset %d: acknowledged from %d (%d offsets), gaps "
                "%s, read up to %s, not yet acknowledged %s",
                tp, committed, lowest, len(acked), sorted(self._gap[tp]),
                self._read_offset.get(tp), pending[:20],
            )  # fmt: skip
            return
        if stall.read_past:
            log.warning("%s: offsets %d-%d, read again, hold no record: passed over",
                        tp, committed, lowest - 1)  # fmt: skip
            self._gap[tp].addi(committed, lowest)
            stalls.pop(tp, None)
            return
        in_work = any(offset < lowest for offset in pending)
        if stall.read_again or in_work or now - stall.since < STALL_READ_AGAIN_S:
            return
        stall.read_again = True
        stall.highest = max(acked)
        log.warning(
            "%s: offsets %d-%d were taken but never acknowledged; reading again from %d",
            tp, committed, lowest - 1, committed,
        )  # fmt: skip
        task = asyncio.ensure_future(self._read_again(tp, committed))
        self.__dict__.setdefault("_rereads", set()).add(task)
        task.add_done_callback(self.__dict__["_rereads"].discard)

    async def _read_again(self, tp: Any, offset: int) -> None:
        try:
            await self.seek(tp, offset)
        except Exception:  # not assigned any more (a rebalance): its next owner reads it
            log.exception("%s: could not read again from %d", tp, offset)


class ReadCommittedTransport(driver.Transport):
    Consumer = _ReadCommittedConsumer
