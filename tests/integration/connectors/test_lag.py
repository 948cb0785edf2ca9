"""Consumer lag measured by lprx itself, on the real broker, with the worker's own
credentials: its groups' lag is visible to it, and to the ingest it is not."""

from __future__ import annotations

from confluent_kafka import TopicPartition

from connectors.kafka.acls import INGEST, WORKER
from connectors.kafka.lag import LagMonitor, measure_lag
from connectors.kafka.topics import admin_client, make_consumer, make_producer
from pipelines.settings import Settings
from tests.conftest import as_principal, wait_for


def test_the_worker_measures_its_groups_lag_per_partition(kafka_settings: Settings) -> None:
    topic = kafka_settings.topic("reads")
    producer = make_producer(kafka_settings, "test-lag")
    for n in range(5):
        producer.produce(topic, key=b"k", value=f"r{n}".encode(), partition=0)
    assert producer.flush(10) == 0
    worker = as_principal(kafka_settings, WORKER)
    group = f"{kafka_settings.topic_prefix}-normalize"  # a Faust app id the worker may use
    consumer = make_consumer(worker, group)
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    finally:
        consumer.close()

    admin = admin_client(worker)
    (lag,) = wait_for(lambda: measure_lag(admin, group, [topic]), 30, "the lag")
    assert (lag.topic, lag.partition, lag.committed, lag.end, lag.lag) == (topic, 0, 2, 5, 3)
    # A group that never committed lags by the whole partition (groups start earliest).
    (fresh,) = measure_lag(admin, f"{kafka_settings.topic_prefix}-never", [topic])
    assert (fresh.committed, fresh.lag) == (None, 5)
    # A topic that does not exist has no partitions to lag on.
    assert measure_lag(admin, group, [kafka_settings.topic("missing")]) == []


def test_the_ingest_may_not_see_the_workers_group(kafka_settings: Settings) -> None:
    group = f"{kafka_settings.topic_prefix}-normalize"
    # reads.raw: a topic the ingest may describe (it writes it); the group it may not.
    topic = kafka_settings.topic("reads.raw")
    ingest = LagMonitor(as_principal(kafka_settings, INGEST), group, lambda: [topic])
    ingest.refresh()
    assert (ingest.errors, ingest.last_answer, ingest.lags) == (1, None, [])
    assert "AUTHORIZATION" in (ingest.last_error or "").upper()
    # A topic it may not describe is not even listed to it.
    hidden = measure_lag(
        admin_client(as_principal(kafka_settings, INGEST)), group, [kafka_settings.topic("reads")]
    )
    assert hidden == []
    worker = LagMonitor(as_principal(kafka_settings, WORKER), group, lambda: [topic])
    worker.refresh()
    assert worker.errors == 0 and worker.last_answer is not None
    assert [lag.topic for lag in worker.lags] == [topic]
