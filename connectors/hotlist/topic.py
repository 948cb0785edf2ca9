"""Hotlist entries onto the compacted hotlist topic: upserts, and whole-list snapshots."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Producer

from connectors.kafka.config import KafkaConfig
from connectors.kafka.follower import CompactedTopicFollower
from schemas import Codec
from schemas.errors import InvalidRecord, TransientError
from schemas.records import HotlistEntry


def publish_entries(
    settings: KafkaConfig, producer: Producer, codec: Codec, entries: Iterable[HotlistEntry]
) -> int:
    """Upserts entries (keyed by entry_id) and waits until Kafka has them all."""
    failures: list[str] = []

    def on_delivery(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    count = 0
    topic = settings.topic("hotlist")
    for entry in entries:
        producer.produce(
            topic, key=entry.entry_id.encode(), value=entry.encode(codec), on_delivery=on_delivery
        )
        producer.poll(0)
        count += 1
    remaining = producer.flush(60)
    if failures or remaining:
        raise TransientError(
            f"{len(failures) + remaining} of {count} hotlist entries were not written: "
            f"{failures[:3]}"
        )
    return count


@dataclass(frozen=True)
class SnapshotReport:
    upserted: int
    unchanged: int
    retracted: int


def current_entries(settings: KafkaConfig, codec: Codec, list_id: str) -> dict[str, HotlistEntry]:
    """The live entries of one list, as the compacted topic holds them now."""
    entries: dict[str, HotlistEntry] = {}
    prefix = f"{list_id}:"

    def put(key: str, entry: HotlistEntry) -> None:
        if key.startswith(prefix):
            entries[key] = entry

    def retract(key: str) -> None:
        entries.pop(key, None)

    follower: CompactedTopicFollower[HotlistEntry] = CompactedTopicFollower(
        settings, settings.topic("hotlist"), lambda b: HotlistEntry.decode(codec, b), put, retract
    )
    follower.start()
    try:
        if not follower.wait_caught_up(120):
            raise TransientError("the hotlist topic could not be read to its end in time")
    finally:
        follower.stop()
    return entries


class SnapshotRefused(InvalidRecord):
    """A snapshot that would retract more of the live list than allowed (a file that
    parsed to few entries, say a wrong ``--format``): nothing was written."""


# A snapshot may retract at most this share of the live list unless forced.
DEFAULT_MAX_RETRACT_SHARE = 0.2


def publish_snapshot(
    settings: KafkaConfig,
    producer: Producer,
    codec: Codec,
    list_id: str,
    entries: Iterable[HotlistEntry],
    *,
    max_retract_share: float = DEFAULT_MAX_RETRACT_SHARE,
    force: bool = False,
) -> SnapshotReport:
    """Makes the list exactly ``entries``: new and changed entries are written first, and
    only then are entries absent from the snapshot retracted, so a matcher never sees a
    moment where an entry live in both the old and new list is missing. Refuses
    (SnapshotRefused, nothing written) a snapshot that would retract more than
    ``max_retract_share`` of the live list, unless ``force``."""
    wanted = {e.entry_id: e for e in entries if e.list_id == list_id}
    existing = current_entries(settings, codec, list_id)
    retracting = sum(1 for key in existing if key not in wanted)
    if existing and not force and retracting > max_retract_share * len(existing):
        raise SnapshotRefused(
            f"the snapshot would retract {retracting} of the {len(existing)} live entries of "
            f"{list_id} (more than {max_retract_share:.0%}); check the file and its format, "
            "or force it"
        )
    changed = [e for key, e in wanted.items() if existing.get(key) != e]
    publish_entries(settings, producer, codec, changed)
    gone = [key for key in existing if key not in wanted]
    topic = settings.topic("hotlist")
    for key in gone:
        # A tombstone: followers retract the entry, compaction forgets it.
        producer.produce(topic, key=key.encode(), value=None)
        producer.poll(0)
    if producer.flush(60):
        raise TransientError("Kafka did not take every retraction in time")
    return SnapshotReport(len(changed), len(wanted) - len(changed), len(gone))
