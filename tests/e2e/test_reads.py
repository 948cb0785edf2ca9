"""End to end, reads: camera reads stored with their TTL, refused reads, one read per
vehicle pass, and malformed or invalid reads dead-lettered while the stream goes on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from confluent_kafka import TopicPartition

from connectors.kafka.topics import make_consumer
from pipelines.runtime.app import worker_stages
from pipelines.settings import Settings
from schemas.records import PlateRead
from tests.conftest import after_an_aborted_transaction, wait_for
from tests.e2e.harness import CODEC, DAY_S, Running, find_letter, rows_for
from tests.factories import a_read


def holes_total(running: Running, outcome: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{running.settings.metrics_port}/metrics", timeout=10).text
    prefix = f'lprx_consumer_holes_total{{outcome="{outcome}"}}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


def committed_offset(settings: Settings, group: str, topic: str) -> int:
    """The group's committed offset of partition 0 of ``topic``, asked without joining."""
    consumer = make_consumer(settings, group)
    try:
        (committed,) = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return int(committed.offset)
    finally:
        consumer.close()


def test_camera_reads_are_stored_with_ttl_counted_from_collection(running: Running) -> None:
    now = datetime.now(UTC)
    assert running.post_read("TTLNEW1", "cam-ttl", now).status_code == 202
    assert running.post_read("TTLOLD1", "cam-ttl", now - timedelta(days=59)).status_code == 202
    fresh = rows_for(running, "TTLNEW1")[0]
    old = rows_for(running, "TTLOLD1")[0]
    # TTL() counts down from the write; the margin covers the trip through the pipeline.
    assert 60 * DAY_S - 180 <= fresh["ttl"] <= 60 * DAY_S
    assert DAY_S - 180 <= old["ttl"] <= DAY_S


def test_read_past_retention_is_refused(running: Running) -> None:
    response = running.post_read("TTLGONE", "cam-ttl", datetime.now(UTC) - timedelta(days=61))
    assert response.status_code == 422
    # Behind it in the same stream a good read arrives, so the refused one had its chance.
    assert running.post_read("TTLNEXT", "cam-ttl", datetime.now(UTC)).status_code == 202
    rows_for(running, "TTLNEXT")
    assert running.stored("TTLGONE") == []


def test_reads_of_one_pass_become_its_best_read_with_the_others_counted(
    running: Running,
) -> None:
    now = datetime.now(UTC)
    for seconds, plate, confidence in [
        (0, "DUP4321", 80.0),
        (1, "DUP4321", 97.0),
        (2, "DUP4B21", 85.0),
    ]:
        response = running.post_read(plate, "cam-dup", now + timedelta(seconds=seconds), confidence)
        assert response.status_code == 202
    # Another camera's read of the same plate is a different pass, and also a marker
    # that the duplicates (posted before it, same partition) have been handled.
    assert running.post_read("DUP4321", "cam-other", now).status_code == 202
    rows = rows_for(running, "DUP4321", n=2)
    assert sorted(r["camera_id"] for r in rows) == ["cam-dup", "cam-other"]
    best = next(r for r in rows if r["camera_id"] == "cam-dup")
    assert (best["confidence"], best["duplicates"]) == (97.0, 2)
    assert running.stored("DUP4B21") == []


def test_malformed_read_bytes_are_dead_lettered_and_the_stream_goes_on(running: Running) -> None:
    running.produce("reads.raw", b"not an avro record")
    running.produce("reads.raw", b"")
    good = a_read(plate="AFTERBAD1", camera_id="cam-bad", collected_at=datetime.now(UTC))
    running.produce("reads.raw", good.encode(CODEC))
    rows_for(running, "AFTERBAD1")
    letter = find_letter(running, lambda d: d.original_value == b"not an avro record")
    assert letter.stage == "normalize" and letter.error_type == "DecodeError"
    assert letter.source_topic == running.settings.topic("reads.raw")
    assert find_letter(running, lambda d: d.original_value == b"" and d.stage == "normalize")


def test_invalid_read_is_dead_lettered_with_its_reason(running: Running) -> None:
    bad = a_read(plate="---", camera_id="cam-bad", collected_at=datetime.now(UTC))
    original = bad.encode(CODEC)
    running.produce("reads.raw", original)
    letter = find_letter(running, lambda d: "characters after normalisation" in d.reason)
    assert letter.error_type == "InvalidRecord"
    assert letter.original_value == original
    assert PlateRead.decode(CODEC, letter.original_value).plate == "---"


def test_an_aborted_transaction_between_reads_is_asked_of_kafka_and_passed_over(
    running: Running,
) -> None:
    """The worker commits past offsets its fetch jumped over only once its own reader
    has asked Kafka what they hold: five records of an aborted transaction on reads.raw
    (and its marker) hold none, so they are passed over, and the group's commit reaches
    the read after them."""
    settings = running.settings
    topic = settings.topic("reads.raw")
    before = holes_total(running, "passed_over")
    first = a_read(plate="HOLEA11", camera_id="cam-hole", collected_at=datetime.now(UTC))
    running.produce("reads.raw", first.encode(CODEC), key=b"cam-hole")
    rows_for(running, "HOLEA11")
    after_an_aborted_transaction(settings, topic, 5, key=b"cam-hole")
    after = a_read(plate="HOLEB22", camera_id="cam-hole", collected_at=datetime.now(UTC))
    offsets: list[int] = []
    running.producer.produce(
        topic, key=b"cam-hole", value=after.encode(CODEC),
        on_delivery=lambda _error, message: offsets.append(message.offset()),
    )  # fmt: skip
    running.producer.flush(10)
    rows_for(running, "HOLEB22")
    wait_for(lambda: holes_total(running, "passed_over") > before, 60, "the hole passed over")
    group = f"{settings.topic_prefix}-{'-'.join(worker_stages(settings))}"
    # Past the read after the hole (the abort's marker may come after that read: Kafka
    # writes markers once the abort is decided, not before abort_transaction returns).
    wait_for(
        lambda: committed_offset(settings, group, topic) > offsets[0],
        60,
        "the group's commit past the aborted records",
    )
