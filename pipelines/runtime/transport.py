"""The worker's Faust transport, reading committed records only.

Faust's consumer reads uncommitted records unless Faust itself runs transactions
(``processing_guarantee="exactly_once"``, which lprx does not use: see ``share.py``). The
share stage writes its audit events in Kafka transactions, so an agent reading them
(``store-audit``) must not see those of a transaction that was aborted: this transport
is Faust's aiokafka one with ``isolation.level=read_committed``. Records written outside
transactions read as before.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as driver

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


class ReadCommittedTransport(driver.Transport):
    Consumer = _ReadCommittedConsumer
