"""What the agents of one worker share: settings, codec, topics, the store, executors.

Agents send through an ``Outbox`` (Kafka topics by name; ``wiring.FaustOutbox`` in a
worker, a recorder in tests) and only ever with the key ``schemas/keys.py`` gives the
record, so records that must meet in one partition do. The Cassandra session is created
on first use and shared; blocking work runs on executors, never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

from connectors.cassandra import CassandraStore
from connectors.kafka.topics import TopicSpec
from pipelines.runtime.followers import Followers, hotlist_index
from pipelines.settings import Settings
from pipelines.stages.share import AgreementBook
from schemas import Codec, codec_for
from schemas.errors import ConfigurationError, StoreUnavailable
from schemas.keys import (
    audit_key,
    dead_letter_key,
    hit_key,
    raw_read_key,
    read_key,
)
from schemas.records import AuditEvent, DeadLetter, Hit, PlateRead

T = TypeVar("T")


@dataclass(frozen=True)
class Outgoing:
    """One record to send: topic, key and value."""

    topic: str
    key: bytes
    value: bytes


class Outbox(Protocol):
    """Where agents send records: a Kafka topic by name, and the topics to create."""

    async def send(
        self, topic: str, key: bytes, value: bytes, partition: int | None = None
    ) -> None: ...

    async def send_acknowledged(self, records: Sequence[Outgoing]) -> None:
        """Sends every record and returns once Kafka has acknowledged each (raises if
        one is refused): for state that may only record a send once it is done."""
        ...

    async def ensure(self, spec: TopicSpec) -> None: ...


@dataclass(frozen=True)
class TopicNames:
    """The full names of the topics the agents read and write."""

    frames: str
    raw_reads: str
    normalized_reads: str
    """Every normalised read, for matching at once."""
    reads: str
    """The best read of each pass, for the store."""
    hits: str
    audit: str
    dispositions: str
    hotlist: str
    deadletter: str
    dedup_ticks: str

    @classmethod
    def of(cls, settings: Settings) -> TopicNames:
        topic = settings.topic
        return cls(
            frames=topic("frames"),
            raw_reads=topic("reads.raw"),
            normalized_reads=topic("reads.normalized"),
            reads=topic("reads"),
            hits=topic("hits"),
            audit=topic("audit"),
            dispositions=topic("dispositions"),
            hotlist=topic("hotlist"),
            deadletter=topic("deadletter"),
            dedup_ticks=topic("dedup-ticks"),
        )


class Context:
    """One per worker; every agent gets the same one."""

    def __init__(
        self,
        settings: Settings,
        *,
        worker: str,
        out: Outbox,
        stages: Sequence[str],
        codec: Codec | None = None,
        store_factory: Callable[[], CassandraStore] | None = None,
    ) -> None:
        self.settings = settings
        self.worker = worker
        """The worker's name in dead letters: the Faust app id."""
        self.out = out
        self.stages = tuple(stages)
        self.codec = codec or codec_for(settings.schema_registry_url)
        self.topics = TopicNames.of(settings)
        # OCR has its own thread, so a slow frame never holds up Cassandra or admin calls.
        # A store batch holds a thread while in flight: the reads' batches, the hits' and
        # the audit's, and one for the other calls.
        threads = settings.store_batches_in_flight + 3
        self.blocking = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lprx-io")
        self.ocr_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lprx-ocr")
        self.hotlist = hotlist_index(settings)
        self.agreements = AgreementBook()
        self.followers = Followers(settings, self.codec, self.hotlist, self.agreements, stages)
        self._store_factory = store_factory or (
            # Workers never create the schema: their role cannot (lprx setup does).
            lambda: CassandraStore(settings, create_schema=False)
        )
        self._store: CassandraStore | None = None
        self._store_lock = asyncio.Lock()

    async def run_blocking(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.blocking, fn)

    async def store(self) -> CassandraStore:
        """One Cassandra session per worker, created on first use. Cassandra not there
        yet is transient for a worker: the caller holds its records and tries again."""
        async with self._store_lock:
            if self._store is None:
                try:
                    self._store = await self.run_blocking(self._store_factory)
                except ConfigurationError as error:
                    raise StoreUnavailable(str(error)) from error
            return self._store

    @property
    def open_store(self) -> CassandraStore | None:
        """The session if one is open (for health checks, from any thread)."""
        return self._store

    async def wait_for_followers(self) -> None:
        """Until the hotlist and agreements this worker's stages need are loaded."""
        await self.followers.wait(self.run_blocking)

    # --- sending, each record with its key ---------------------------------------

    async def send_raw_read(self, read: PlateRead) -> None:
        key = raw_read_key(read, self.settings.dedup_sites)
        await self.out.send(self.topics.raw_reads, key, read.encode(self.codec))

    async def send_normalized_read(self, read: PlateRead, value: bytes | None = None) -> None:
        """``value``: the read already encoded, if it is."""
        key = read_key(read)
        value = read.encode(self.codec) if value is None else value
        await self.out.send(self.topics.normalized_reads, key, value)

    async def send_reads_acknowledged(self, reads: Sequence[PlateRead]) -> None:
        """The reads to store, returning once Kafka has every one of them."""
        records = [Outgoing(self.topics.reads, read_key(r), r.encode(self.codec)) for r in reads]
        if records:
            await self.out.send_acknowledged(records)

    async def send_hit(self, hit: Hit) -> None:
        await self.out.send(self.topics.hits, hit_key(hit), hit.encode(self.codec))

    async def send_audit(self, event: AuditEvent) -> None:
        await self.out.send(self.topics.audit, audit_key(event), event.encode(self.codec))

    async def send_dead_letter(self, letter: DeadLetter) -> None:
        key = dead_letter_key(letter)
        await self.out.send(self.topics.deadletter, key, letter.encode(self.codec))
