"""Where connectors put records: Kafka in production, a list in unit tests."""

from __future__ import annotations

import logging
from typing import Protocol

from confluent_kafka import KafkaError, Message

from connectors.kafka import make_producer
from pipelines.records import AuditEvent, DeadLetter, Frame, PlateRead
from pipelines.settings import Settings
from schemas import codec_for

log = logging.getLogger(__name__)


class RecordSink(Protocol):
    def publish_read(self, read: PlateRead) -> None: ...

    def publish_frame(self, frame: Frame) -> None: ...

    def dead_letter(self, letter: DeadLetter) -> None: ...

    def audit(self, event: AuditEvent) -> None: ...

    def flush(self, timeout: float) -> int: ...


class KafkaSink:
    """Produces records keyed by camera (so one camera's records stay in order)."""

    def __init__(self, settings: Settings, client_id: str) -> None:
        self._settings = settings
        self._codec = codec_for(settings.schema_registry_url)
        self._producer = make_producer(settings, client_id)
        self.failed = 0

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed += 1
            # Never the value: it may hold a plate.
            log.error("delivery to %s failed: %s", message.topic(), error)

    def _produce(self, topic: str, key: str, value: bytes) -> None:
        self._producer.produce(
            self._settings.topic(topic),
            key=key.encode(),
            value=value,
            on_delivery=self._on_delivery,
        )
        self._producer.poll(0)

    def publish_read(self, read: PlateRead) -> None:
        self._produce("reads.raw", read.camera_id, read.encode(self._codec))

    def publish_frame(self, frame: Frame) -> None:
        self._produce("frames", frame.camera_id, frame.encode(self._codec))

    def dead_letter(self, letter: DeadLetter) -> None:
        self._produce("deadletter", letter.stage, letter.encode(self._codec))

    def audit(self, event: AuditEvent) -> None:
        self._produce("audit", event.actor_agency_ori or "", event.encode(self._codec))

    def flush(self, timeout: float = 10.0) -> int:
        """Waits for outstanding deliveries; returns how many are still pending."""
        return int(self._producer.flush(timeout))


class MemorySink:
    """Keeps what was published, for tests of connectors without Kafka."""

    def __init__(self) -> None:
        self.reads: list[PlateRead] = []
        self.frames: list[Frame] = []
        self.dead_letters: list[DeadLetter] = []
        self.audits: list[AuditEvent] = []

    def publish_read(self, read: PlateRead) -> None:
        self.reads.append(read)

    def publish_frame(self, frame: Frame) -> None:
        self.frames.append(frame)

    def dead_letter(self, letter: DeadLetter) -> None:
        self.dead_letters.append(letter)

    def audit(self, event: AuditEvent) -> None:
        self.audits.append(event)

    def flush(self, timeout: float = 0.0) -> int:
        return 0
