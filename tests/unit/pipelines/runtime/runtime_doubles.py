"""Stand-ins for what the runtime's agents touch outside the process: Kafka (events in,
an outbox recording what is sent) and Cassandra (a store answering as told). The agents,
the guard, the context and the mirrors under test are the worker's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from connectors.cassandra import RowOutcome
from connectors.kafka.topics import TopicSpec
from pipelines.metrics import REGISTRY
from pipelines.runtime import ALL_STAGES
from pipelines.runtime.context import Context, Outgoing
from pipelines.settings import Settings
from schemas import Codec, SingleObjectCodec
from schemas.errors import StoreUnavailable
from schemas.plates import confusable_key
from schemas.records import DeadLetter, PlateRead, utcnow
from tests.factories import a_read

CODEC = SingleObjectCodec()
PREFIX = "unit"


@dataclass
class Message:
    value: bytes | None
    key: bytes | None = b"cam-1"
    topic: str = f"{PREFIX}.reads"
    partition: int = 0
    offset: int = 0
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Event:
    """What an agent reads of a Faust event: its message."""

    message: Message


def event(value: bytes | None, **message: Any) -> Event:
    return Event(Message(value, **message))


@dataclass(frozen=True)
class Sent:
    topic: str
    key: bytes
    value: bytes
    partition: int | None


class RecordingOutbox:
    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.ensured: list[TopicSpec] = []
        self.failures: list[Exception] = []
        """Raised by the next sends, one each."""
        self.refusals: list[Exception] = []
        """Raised by the next acknowledged sends, one each, after the records went out
        (Kafka took them, or not, but never acknowledged)."""
        self.acknowledged: list[Sent] = []

    async def send(
        self, topic: str, key: bytes, value: bytes, partition: int | None = None
    ) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(Sent(topic, key, value, partition))

    async def send_acknowledged(self, records: Sequence[Outgoing]) -> None:
        for record in records:
            await self.send(record.topic, record.key, record.value)
        if self.refusals:
            raise self.refusals.pop(0)
        self.acknowledged += self.sent[-len(records) :]

    async def ensure(self, spec: TopicSpec) -> None:
        self.ensured.append(spec)

    def to(self, name: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == f"{PREFIX}.{name}"]

    def letters(self) -> list[DeadLetter]:
        return [DeadLetter.decode(CODEC, s.value) for s in self.to("deadletter")]


class FakeStore:
    """Answers each call as told; ``unavailable`` calls fail first, as Cassandra down."""

    def __init__(self) -> None:
        self.unavailable = 0
        self.calls: list[tuple[str, Any]] = []
        self.outcomes: list[RowOutcome] | None = None
        self.category: tuple[str, int] | None = ("STOLEN_VEHICLE", 3600)
        self.checked = False
        self.stored: list[PlateRead] = []

    def _call(self, name: str, arg: Any) -> None:
        if self.unavailable:
            self.unavailable -= 1
            raise StoreUnavailable("Cassandra write failed: down (test)")
        self.calls.append((name, arg))

    def _rows(self, name: str, rows: Sequence[Any]) -> list[RowOutcome]:
        self._call(name, list(rows))
        return self.outcomes if self.outcomes is not None else [RowOutcome(True) for _ in rows]

    def write_reads(self, reads: Sequence[Any], now: Any) -> list[RowOutcome]:
        return self._rows("write_reads", reads)

    def write_hits(self, hits: Sequence[Any], now: Any) -> list[RowOutcome]:
        return self._rows("write_hits", hits)

    def write_audit(self, events: Sequence[Any]) -> list[RowOutcome]:
        return self._rows("write_audit", events)

    def write_crops(self, crops: Sequence[Any], now: Any) -> list[RowOutcome]:
        return self._rows("write_crops", crops)

    def hit_category(self, disposition: Any) -> tuple[str, int] | None:
        self._call("hit_category", disposition)
        return self.category

    def write_disposition(self, disposition: Any, ttl: int) -> None:
        self._call("write_disposition", (disposition, ttl))

    def entry_checked(self, entry_id: str, folded: str) -> bool:
        self._call("entry_checked", entry_id)
        return self.checked

    def stored_reads_like(self, plate: str) -> list[PlateRead]:
        self._call("stored_reads_like", plate)
        return self.stored

    def mark_entry_checked(self, entry_id: str, folded: str, now: Any) -> None:
        self._call("mark_entry_checked", entry_id)

    def forget_entry_check(self, entry_id: str) -> None:
        self._call("forget_entry_check", entry_id)

    def entries_checked(self, entries: Sequence[tuple[str, str]]) -> list[bool]:
        self._call("entries_checked", [entry_id for entry_id, _ in entries])
        return [self.checked for _ in entries]

    def stored_reads_like_each(self, plates: Sequence[str]) -> list[list[PlateRead]]:
        """The stored reads of each plate's spellings."""
        self._call("stored_reads_like_each", list(plates))
        like = [confusable_key(plate) for plate in plates]
        return [[r for r in self.stored if confusable_key(r.plate) == key] for key in like]

    def mark_entries_checked(self, entries: Sequence[tuple[str, str]], now: Any) -> None:
        self._call("mark_entries_checked", [entry_id for entry_id, _ in entries])

    def forget_entry_checks(self, entry_ids: Sequence[str]) -> None:
        self._call("forget_entry_checks", list(entry_ids))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def settings(**values: Any) -> Settings:
    return Settings(topic_prefix=PREFIX, table_store="memory://", **values)


def context(
    store: FakeStore | None = None,
    codec: Codec = CODEC,
    store_factory: Callable[[], Any] | None = None,
    **values: Any,
) -> tuple[Context, RecordingOutbox]:
    out = RecordingOutbox()
    fake = store or FakeStore()
    ctx = Context(
        settings(**values),
        worker="unit-worker",
        out=out,
        stages=ALL_STAGES,
        codec=codec,
        store_factory=store_factory or (lambda: fake),  # type: ignore[arg-type, return-value]
    )
    return ctx, out


def fresh_read(**overrides: Any) -> PlateRead:
    """A read the normalize stage accepts today (times in whole milliseconds, as the
    wire keeps them)."""
    now = utcnow()
    now = now.replace(microsecond=now.microsecond - now.microsecond % 1000)
    collected = overrides.pop("collected_at", now - timedelta(seconds=2))
    return a_read(collected_at=collected, received_at=now, **overrides)


def count(stage: str, outcome: str) -> float:
    """A stage's count of one outcome; ``retry`` is its retries (not a record outcome)."""
    if outcome == "retry":
        value = REGISTRY.get_sample_value("lprx_retries_total", {"stage": stage})
    else:
        labels = {"stage": stage, "outcome": outcome}
        value = REGISTRY.get_sample_value("lprx_records_total", labels)
    return value or 0.0


class Counts:
    """``lprx_records_total`` of one stage since this was made."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self._start = {o: count(stage, o) for o in OUTCOMES}

    def __getitem__(self, outcome: str) -> float:
        return count(self.stage, outcome) - self._start.get(outcome, 0.0)


OUTCOMES = (
    "ok", "dead_letter", "dead_letter_failed", "expired", "retry", "duplicate",
    "redelivered", "hit", "no_hit", "suppressed", "frame_read", "no_plate",
    "already_checked", "already_stored", "fused_frames", "too_few_agreeing", "forgotten", "failed",
)  # fmt: skip

T = TypeVar("T")


def run(coroutine: Awaitable[T]) -> T:
    """Runs one coroutine to its end on a new event loop."""

    async def main() -> T:
        return await coroutine

    return asyncio.run(main())


class TakenStream:
    """What a sink uses of a Faust stream: batches taken without acknowledgement, and
    ``ack``. Once the batches run out it waits for more, yielding nothing, as Faust's
    take does."""

    def __init__(self, batches: Sequence[Sequence[Event]]) -> None:
        self.batches = batches
        self.acked: list[int] = []

    async def noack_take(self, max_: int, within: float) -> AsyncIterator[list[Event]]:
        for batch in self.batches:
            yield list(batch)
        await asyncio.Event().wait()

    async def ack(self, event: Event) -> bool:
        self.acked.append(event.message.offset)
        return True
