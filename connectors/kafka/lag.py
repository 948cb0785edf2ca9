"""Consumer lag of one consumer group, measured by lprx itself.

For each partition of the group's topics: the group's committed offset
(``OffsetFetch``) and the partition's end (``ListOffsets``, latest), both asked with
the process's own credentials. Least privilege holds: the broker allows ``Describe`` on
a group to whoever may ``Read`` it, and ``Describe`` on a topic to whoever may read it
(``acls.py``), so a worker sees the lag of its own group and of no other.

A partition the group has never committed lags by everything from the partition's start
(the groups start at the earliest offset). ``LagMonitor`` asks every ``interval_s`` in
a thread of its own and keeps the last answer, so a scrape never waits on Kafka, and
the time of the last answer tells readiness that Kafka answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from connectors.kafka.config import KafkaConfig
from connectors.kafka.topics import admin_client

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None
    """None: the group never committed this partition."""
    start: int
    end: int

    @property
    def position(self) -> int:
        """Where the group's commits stand: the next offset it would read."""
        return self.start if self.committed is None else max(self.committed, self.start)

    @property
    def lag(self) -> int:
        return max(self.end - self.position, 0)


def _results(futures: dict[Any, Any]) -> dict[Any, Any]:
    return {key: future.result(timeout=REQUEST_TIMEOUT_S) for key, future in futures.items()}


def measure_lag(admin: AdminClient, group: str, topics: Sequence[str]) -> list[PartitionLag]:
    """The lag of ``group`` on every partition of ``topics`` now."""
    metadata = admin.list_topics(timeout=REQUEST_TIMEOUT_S)
    partitions = [
        TopicPartition(topic, p)
        for topic in topics
        if topic in metadata.topics and metadata.topics[topic].error is None
        for p in sorted(metadata.topics[topic].partitions)
    ]
    if not partitions:
        return []
    request = [ConsumerGroupTopicPartitions(group, partitions)]
    answer = _results(admin.list_consumer_group_offsets(request, request_timeout=10))
    committed = {
        (tp.topic, tp.partition): tp.offset
        for result in answer.values()
        for tp in result.topic_partitions
        if tp.error is None
    }
    specs = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest()}  # type: ignore[no-untyped-call]
    ends = {
        name: _results(admin.list_offsets({tp: spec for tp in partitions}))
        for name, spec in specs.items()
    }
    lags = []
    for tp in partitions:
        key = (tp.topic, tp.partition)
        offset = committed.get(key)
        lags.append(
            PartitionLag(
                group=group,
                topic=tp.topic,
                partition=tp.partition,
                committed=offset if offset is not None and offset >= 0 else None,
                start=int(ends["earliest"][tp].offset),
                end=int(ends["latest"][tp].offset),
            )
        )
    return lags


class LagMonitor:
    """Measures a group's lag every ``interval_s`` in a daemon thread; keeps the last."""

    def __init__(
        self,
        settings: KafkaConfig,
        group: str,
        topics: Callable[[], Sequence[str]],
        interval_s: float = 15.0,
    ) -> None:
        self.group = group
        self._topics = topics
        self._interval_s = interval_s
        self._admin = admin_client(settings, **{"client.id": f"{group}-lag"})
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lag-{group}", daemon=True)
        self.lags: list[PartitionLag] = []
        self.last_answer: float | None = None
        """time.monotonic() of the last complete answer from Kafka."""
        self.errors = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=REQUEST_TIMEOUT_S + 1)

    def refresh(self) -> None:
        try:
            self.lags = measure_lag(self._admin, self.group, self._topics())
        except (KafkaException, TimeoutError, RuntimeError) as error:
            self.errors += 1
            self.last_error = f"{type(error).__name__}: {error}"
            log.warning("consumer lag of %s not measured: %s", self.group, error)
            return
        self.last_answer = time.monotonic()
        self.last_error = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.refresh()
            self._stopping.wait(self._interval_s)
