"""A hotlist snapshot that would retract most of a live list is refused, against a real
Kafka broker (the list as the compacted topic holds it is what a snapshot compares to)."""

from __future__ import annotations

import pytest

from connectors.hotlist.topic import SnapshotRefused, current_entries, publish_snapshot
from connectors.kafka.topics import core_topics, ensure_topics, make_producer
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from tests.factories import an_entry

CODEC = SingleObjectCodec()


def test_a_snapshot_that_retracts_too_much_is_refused_unless_forced(
    kafka_settings: Settings,
) -> None:
    ensure_topics(kafka_settings, core_topics(kafka_settings))
    producer = make_producer(kafka_settings, "test-snapshot")
    live = [
        an_entry(entry_id=f"ncic:MN:AB{i:04d}", list_id="ncic", plate=f"AB{i:04d}")
        for i in range(50)
    ]
    assert publish_snapshot(kafka_settings, producer, CODEC, "ncic", live).upserted == 50

    # A file that parsed to 5 entries (a wrong --format, say) would retract 45 of 50.
    with pytest.raises(SnapshotRefused, match="45 of the 50"):
        publish_snapshot(kafka_settings, producer, CODEC, "ncic", live[:5])
    assert len(current_entries(kafka_settings, CODEC, "ncic")) == 50  # nothing written

    # Within the allowed share it goes through; forced, so does a large retraction.
    assert publish_snapshot(kafka_settings, producer, CODEC, "ncic", live[:45]).retracted == 5
    forced = publish_snapshot(kafka_settings, producer, CODEC, "ncic", live[:5], force=True)
    assert forced.retracted == 40
    assert len(current_entries(kafka_settings, CODEC, "ncic")) == 5
