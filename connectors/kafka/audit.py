"""The audit trail's one writer: AuditEvents onto the ``audit`` topic.

Every tool that audits (the CLI's look-ups, hotlist loads, agreement changes) writes
through ``AuditTrail``, keyed by ``schemas.keys.audit_key`` (the acting agency), so an
agency's trail stays in order on one partition. The store agent copies the topic to
Cassandra, which keeps the long copy.

"No audit, no access": ``record_acknowledged`` returns only once Kafka has acknowledged
the event, and raises ``TransientError`` otherwise, so a caller shows nothing it could
not audit. An event that timed out may still be written later: the trail errs on the
side of recording an access that was not shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from connectors.kafka.config import KafkaConfig
from connectors.kafka.topics import answers, make_producer
from connectors.prometheus import AUDIT_WRITE_FAILURES
from schemas import Codec, codec_for, keys
from schemas.errors import TransientError
from schemas.records import AuditEvent

log = logging.getLogger(__name__)

# How long a caller waits, by default, for Kafka to acknowledge an audit event.
ACK_TIMEOUT_S = 10.0


class AuditWriter(Protocol):
    """What an audited service needs: ``AuditTrail``, or a list in unit tests."""

    def record(self, event: AuditEvent) -> None: ...

    def record_acknowledged(self, event: AuditEvent, timeout: float = ACK_TIMEOUT_S) -> None: ...


class AuditTrail:
    """Writes AuditEvents to the audit topic with one (possibly shared) producer."""

    def __init__(
        self,
        settings: KafkaConfig,
        client_id: str = "lprx-audit",
        *,
        producer: Producer | None = None,
        codec: Codec | None = None,
    ) -> None:
        self._topic = settings.topic("audit")
        self._codec = codec if codec is not None else codec_for(settings.schema_registry_url)
        self._producer = producer if producer is not None else make_producer(settings, client_id)
        self.failed = 0

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self.failed += 1
            AUDIT_WRITE_FAILURES.labels("kafka").inc()
            log.error("audit event not written to %s: %s", self._topic, error.str())

    def _produce(
        self, event: AuditEvent, on_delivery: Callable[[KafkaError | None, Message], None]
    ) -> None:
        try:
            self._producer.produce(
                self._topic,
                key=keys.audit_key(event),
                value=event.encode(self._codec),
                on_delivery=on_delivery,
            )
        except (BufferError, KafkaException) as error:
            AUDIT_WRITE_FAILURES.labels("kafka").inc()
            raise TransientError(f"Kafka refused the audit event: {error}") from error

    def record(self, event: AuditEvent) -> None:
        """Queues the event; a delivery failure is logged and counted (``failed``)."""
        self._produce(event, self._on_delivery)
        self._producer.poll(0)

    def record_acknowledged(self, event: AuditEvent, timeout: float = ACK_TIMEOUT_S) -> None:
        """Writes the event and waits for Kafka's acknowledgement; raises
        ``TransientError`` if Kafka refused it or did not answer within ``timeout``."""
        outcome: list[KafkaError | None] = []

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self._on_delivery(error, message)
            outcome.append(error)

        self._produce(event, on_delivery)
        deadline = time.monotonic() + timeout
        while not outcome:
            left = deadline - time.monotonic()
            if left <= 0:
                AUDIT_WRITE_FAILURES.labels("kafka").inc()
                raise TransientError(
                    f"Kafka did not acknowledge the audit event within {timeout:g} s"
                )
            self._producer.poll(min(left, 0.1))
        if outcome[0] is not None:
            raise TransientError(f"Kafka refused the audit event: {outcome[0].str()}")

    def reachable(self, timeout: float) -> str | None:
        """None when Kafka answers for the audit topic within ``timeout``; else why not."""
        return answers(self._producer, timeout, self._topic)

    def flush(self, timeout: float = ACK_TIMEOUT_S) -> int:
        """Waits for queued events; returns how many are still not acknowledged."""
        return int(self._producer.flush(timeout))


class MemoryAuditTrail:
    """Keeps the events, for unit tests of audited services without Kafka."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    def record_acknowledged(self, event: AuditEvent, timeout: float = ACK_TIMEOUT_S) -> None:
        self.events.append(event)
