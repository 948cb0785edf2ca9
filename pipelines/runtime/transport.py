"""The worker's Faust transport, reading committed records only.

Faust's consumer reads uncommitted records unless Faust itself runs transactions
(``processing_guarantee="exactly_once"``, which lprx does not use: see ``share.py``). The
share stage writes its audit events in Kafka transactions, so an agent reading them
(``store-audit``) must not see those of a transaction that was aborted: this transport
is Faust's aiokafka one with ``isolation.level=read_committed``. Records written outside
transactions read as before.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.transport.drivers import aiokafka as driver

log = logging.getLogger(__name__)

ISOLATION_LEVEL = "read_committed"


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
        await super()._add_gap(tp, offset_from, offset_to - 1)

    def _new_offset(self, tp: Any) -> int | None:
        offset: int | None = super()._new_offset(tp)
        if offset is None:
            self._say_if_stalled(tp)
        return offset

    def _say_if_stalled(self, tp: Any) -> None:
        """Faust commits nothing of a partition while its lowest acknowledged offset is
        more than one past the committed one: said once per such state, with what
        Faust holds, so a stalled partition (its lag never falls) can be explained."""
        acked, committed = self._acked.get(tp), self._committed_offset.get(tp)
        if not acked or not committed or min(acked) - committed <= 1:
            return
        state = (committed, min(acked))
        stalls: dict[Any, tuple[int, int]] = self.__dict__.setdefault("_stalls", {})
        if stalls.get(tp) == state:
            return
        stalls[tp] = state
        pending = sorted(m.offset for m in list(self._unacked_messages) if m.tp == tp)
        log.warning(
            "%s: commits wait at offset %d: acknowledged from %d (%d offsets), gaps %s, "
            "read up to %s, not yet acknowledged %s",
            tp, committed, min(acked), len(acked), sorted(self._gap[tp]),
            self._read_offset.get(tp), pending[:20],
        )  # fmt: skip


class ReadCommittedTransport(driver.Transport):
    Consumer = _ReadCommittedConsumer
