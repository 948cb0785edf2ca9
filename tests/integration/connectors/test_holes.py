"""What offsets hold, asked of real Kafka (``connectors/kafka/holes.py``): records, an
aborted transaction and its marker (no record), and an open transaction (cannot tell)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.kafka.holes import NO_RECORD, HoleReader
from connectors.kafka.topics import TopicSpec, ensure_topics, make_producer
from pipelines.settings import Settings
from tests.conftest import after_an_aborted_transaction, unique_settings


@pytest.fixture
def written(servers: Settings) -> Iterator[tuple[Settings, str]]:
    """Offsets 0-4 plain records; 5-7 an aborted transaction, 8 its marker; 9 a committed
    record, 10 its marker; 11 a record of a transaction still open."""
    settings = unique_settings(servers, topic_partitions=1)
    topic = settings.topic("holes")
    ensure_topics(settings, [TopicSpec(topic, 1)])
    plain = make_producer(settings, "test-holes")
    for i in range(5):
        plain.produce(topic, key=b"k", value=b"plain-%d" % i)
    assert plain.flush(15) == 0
    producer = after_an_aborted_transaction(settings, topic, 3)
    producer.begin_transaction()
    producer.produce(topic, key=b"k", value=b"committed")
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, key=b"k", value=b"open")
    producer.flush(15)
    yield settings, topic
    producer.abort_transaction(30)


def test_records_aborted_transactions_and_open_ones(written: tuple[Settings, str]) -> None:
    settings, topic = written
    reader = HoleReader(settings, timeout_s=5)
    assert reader.first_record(topic, 0, 0, 5) == 0
    assert reader.first_record(topic, 0, 2, 5) == 2
    # The aborted records and the abort marker: nothing a read_committed reader gets.
    assert reader.first_record(topic, 0, 5, 9) == NO_RECORD
    assert reader.first_record(topic, 0, 8, 9) == NO_RECORD
    assert reader.first_record(topic, 0, 5, 10) == 9
    assert reader.first_record(topic, 0, 10, 11) == NO_RECORD  # the commit marker
    # Behind an open transaction (offset 11): the reader cannot tell yet.
    assert reader.first_record(topic, 0, 10, 12) is None
