"""Where connectors put records: Kafka in production, a list in unit tests.

``RecordSink`` is what the HTTP ingest and the frame producer need; ``KafkaSink``
encodes records with the configured codec and produces them keyed by camera, so one
camera's reads and frames stay in order on one partition. Delivery is asynchronous:
failures are counted (``failed``, ``lprx_sink_delivery_failures_total``) and logged
without the record's value, which may hold a plate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, Message
from prometheus_client import Counter

from connectors.kafka.config import KafkaConfig
from connectors.kafka.topics import answers, make_producer
from schemas import codec_for, keys
from schemas.errors import InvalidRecord, TransientError
from schemas.records import AuditEvent, DeadLetter, Frame, PlateRead

log = logging.getLogger(__name__)

DELIVERY_FAILURES = Counter(
    "lprx_sink_delivery_failures",
    "Records Kafka did not accept, by logical topic.",
    ["topic"],
)
SINK_TOPICS = ("reads.raw", "frames", "audit", "deadletter")
# How long produce() waits for room in librdkafka's queue before giving up.
QUEUE_FULL_WAIT_S = 5.0


class RecordSink(Protocol):
    def publish_read(self, read: PlateRead) -> None: ...

    async def publish_reads_acknowledged(self, reads: Sequence[PlateRead], timeout: float) -> None:
        """Returns once Kafka has acknowledged every read; TransientError when it has not
        in ``timeout`` seconds or refused one (the caller then says "retry")."""
        ...

    def publish_frame(self, frame: Frame) -> None: ...

    def dead_letter(self, letter: DeadLetter) -> None: ...

    def audit(self, event: AuditEvent) -> None: ...

    def flush(self, timeout: float) -> int:
        """Waits for outstanding deliveries; returns how many are still pending."""
        ...

    def reachable(self, timeout: float) -> str | None:
        """None when Kafka answers a metadata request within ``timeout``; else why not."""
        ...


class KafkaSink:
    """Produces records to the lprx topics with one idempotent producer."""

    def __init__(self, settings: KafkaConfig, client_id: str) -> None:
        self._settings = settings
        self._codec = codec_for(settings.schema_registry_url)
        self._producer = make_producer(settings, client_id)
        self.failed = 0
        for name in SINK_TOPICS:  # a series at 0 from the start, so rate() and alerts see it
            DELIVERY_FAILURES.labels(name)
        # Delivery reports are served continuously, so an acknowledgement is seen as soon
        # as the broker sends it, not at the next produce.
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._serve_reports, name=client_id, daemon=True)
        self._poller.start()

    def _serve_reports(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.05)

    def close(self, timeout: float = 5.0) -> None:
        """Waits up to ``timeout`` for deliveries in flight, then drops the rest and
        closes the producer (its threads stop trying the brokers). Nothing acknowledged
        is dropped: a record is acknowledged (202) only once delivered, so a camera
        whose record is dropped never heard 202, and sends it again."""
        self._closing.set()
        self._poller.join(timeout=1)
        if self._producer.flush(timeout):
            self._producer.purge()
            self._producer.flush(0)  # serves the purged records' reports
        self._producer.close()

    def reachable(self, timeout: float) -> str | None:
        return answers(self._producer, timeout)

    def _on_delivery(self, name: str, error: KafkaError | None, message: Message) -> None:
        if error is None:
            return
        self.failed += 1
        DELIVERY_FAILURES.labels(name).inc()
        # Topic and error only: the value may hold a plate, the key a camera id.
        log.error("delivery to %s failed: %s", message.topic(), error.str())

    def _produce(
        self,
        name: str,
        key: str | bytes | None,
        value: bytes,
        acknowledged: Callable[[KafkaError | None], None] | None = None,
    ) -> None:
        deadline = time.monotonic() + QUEUE_FULL_WAIT_S

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self._on_delivery(name, error, message)
            if acknowledged is not None:
                acknowledged(error)

        while True:
            try:
                self._producer.produce(
                    self._settings.topic(name),
                    key=key.encode() if isinstance(key, str) else key,
                    value=value,
                    on_delivery=on_delivery,
                )
                break
            except BufferError as error:
                # The local queue is full: serve delivery reports to make room, briefly.
                if time.monotonic() >= deadline:
                    raise TransientError(f"Kafka producer queue full for {name}") from error
                self._producer.poll(0.1)
            except KafkaException as error:
                kafka_error: KafkaError = error.args[0]
                if kafka_error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                    raise InvalidRecord(f"record too large for {name}") from error
                raise TransientError(f"Kafka refused a record for {name}: {error}") from error
        self._producer.poll(0)

    def publish_read(self, read: PlateRead) -> None:
        key = keys.raw_read_key(read, self._settings.dedup_sites)
        self._produce("reads.raw", key, read.encode(self._codec))

    async def publish_reads_acknowledged(self, reads: Sequence[PlateRead], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[KafkaError | None]] = []
        for read in reads:
            future: asyncio.Future[KafkaError | None] = loop.create_future()

            def settle(
                error: KafkaError | None, future: asyncio.Future[KafkaError | None] = future
            ) -> None:
                # A report after the event loop closed: the request that waited is gone.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, future, error)

            key = keys.raw_read_key(read, self._settings.dedup_sites)
            self._produce("reads.raw", key, read.encode(self._codec), settle)
            pending.append(future)
        try:
            errors = await asyncio.wait_for(asyncio.gather(*pending), timeout)
        except TimeoutError:
            raise TransientError(
                f"Kafka did not acknowledge {len(pending)} reads in {timeout:.0f} s"
            ) from None
        refused = [error for error in errors if error is not None]
        if refused:
            raise TransientError(
                f"Kafka refused {len(refused)} of {len(pending)} reads: {refused[0].str()}"
            )

    def publish_frame(self, frame: Frame) -> None:
        self._produce("frames", keys.frame_key(frame), frame.encode(self._codec))

    def dead_letter(self, letter: DeadLetter) -> None:
        self._produce("deadletter", keys.dead_letter_key(letter), letter.encode(self._codec))

    def audit(self, event: AuditEvent) -> None:
        self._produce("audit", keys.audit_key(event), event.encode(self._codec))

    def flush(self, timeout: float = 10.0) -> int:
        return int(self._producer.flush(timeout))


def _settle(future: asyncio.Future[KafkaError | None], error: KafkaError | None) -> None:
    if not future.done():  # a request that timed out no longer waits
        future.set_result(error)


class MemorySink:
    """Keeps what was published, for tests of connectors without Kafka."""

    def __init__(self) -> None:
        self.reads: list[PlateRead] = []
        self.frames: list[Frame] = []
        self.dead_letters: list[DeadLetter] = []
        self.audits: list[AuditEvent] = []
        self.flushes = 0
        self.unreachable: str | None = None
        """What ``reachable`` answers (None: reachable)."""

    def publish_read(self, read: PlateRead) -> None:
        self.reads.append(read)

    async def publish_reads_acknowledged(self, reads: Sequence[PlateRead], timeout: float) -> None:
        self.reads.extend(reads)

    def publish_frame(self, frame: Frame) -> None:
        self.frames.append(frame)

    def dead_letter(self, letter: DeadLetter) -> None:
        self.dead_letters.append(letter)

    def audit(self, event: AuditEvent) -> None:
        self.audits.append(event)

    def flush(self, timeout: float = 0.0) -> int:
        self.flushes += 1
        return 0

    def reachable(self, timeout: float) -> str | None:
        return self.unreachable
