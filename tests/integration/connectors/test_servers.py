"""The local Kafka and Cassandra servers, for real: start, check, and use them.

These tests start the servers if needed and leave them running (other integration tests
share them); none of them calls ``down``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from connectors.kafka.topics import base_config
from connectors.servers import ServerStatus, status, up
from pipelines.access import Role, as_role
from pipelines.settings import Settings, get_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings() -> Settings:
    return as_role(get_settings(), Role.SETUP)


@pytest.fixture(scope="module")
def running(settings: Settings) -> list[ServerStatus]:
    # Generous: the very first run fetches jars and starts both JVMs on a small machine.
    return up(settings, timeout=300)


def test_up_is_idempotent_and_quick(settings: Settings, running: list[ServerStatus]) -> None:
    started = time.monotonic()
    again = up(settings)
    elapsed = time.monotonic() - started
    assert [s.pid for s in again] == [s.pid for s in running]  # nothing restarted
    assert all(s.ready for s in again)
    assert elapsed < 15, f"a second up took {elapsed:.1f}s"


def test_status_reports_ready(settings: Settings, running: list[ServerStatus]) -> None:
    rows = {row.name: row for row in status(settings)}
    assert set(rows) == {"kafka", "cassandra"}
    for row in rows.values():
        assert row.pid is not None, row
        assert row.port_open, row
        assert row.ready, row
        assert row.log.exists(), row
    assert rows["kafka"].port == int(settings.kafka_bootstrap_servers.rsplit(":", 1)[1])
    assert rows["cassandra"].port == settings.cassandra_port


@pytest.fixture
def topic(settings: Settings, running: list[ServerStatus]) -> Iterator[str]:
    admin = AdminClient(base_config(settings))
    name = f"lprx-test.servers.{uuid.uuid4().hex[:8]}"
    # The broker auto-creates nothing: topics must be created explicitly.
    admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])[name].result(
        timeout=30
    )
    yield name
    admin.delete_topics([name])[name].result(timeout=30)


def test_kafka_auto_create_is_off(settings: Settings, running: list[ServerStatus]) -> None:
    name = f"lprx-test.missing.{uuid.uuid4().hex[:8]}"
    # Short timeouts: the send is meant to fail, the test need not wait 5 minutes.
    producer = Producer(
        {
            **base_config(settings),
            "message.timeout.ms": 3000,
            "topic.metadata.propagation.max.ms": 1000,
        }
    )
    errors: list[Any] = []
    producer.produce(name, b"x", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(10)
    assert errors and errors[0] is not None  # not delivered
    admin = AdminClient(base_config(settings))
    assert name not in admin.list_topics(timeout=10).topics


def test_kafka_round_trip(settings: Settings, topic: str) -> None:
    producer = Producer({**base_config(settings), "enable.idempotence": True})
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(20)}
    for key, value in sent.items():
        producer.produce(topic, value, key=key)
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            **base_config(settings),
            "group.id": f"lprx-test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: dict[bytes, bytes] = {}
    deadline = time.monotonic() + 60
    try:
        while len(received) < len(sent) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            got_key, got_value = msg.key(), msg.value()
            assert got_key is not None and got_value is not None
            received[got_key] = got_value
        consumer.commit(asynchronous=False)  # the group coordinator works too
    finally:
        consumer.close()
    assert received == sent


def test_cassandra_cql_with_ttl(settings: Settings, running: list[ServerStatus]) -> None:
    from connectors.cassandra import connect

    keyspace = f"lprx_test_{uuid.uuid4().hex[:8]}"
    cluster, session = connect(settings)  # TLS, as the schema owner
    try:
        session.execute(
            f"CREATE KEYSPACE {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.set_keyspace(keyspace)
        session.execute("CREATE TABLE reads (plate text PRIMARY KEY, agency text)")
        session.execute(
            "INSERT INTO reads (plate, agency) VALUES (%s, %s) USING TTL 2", ("ABC123", "MN0000")
        )
        session.execute(
            "INSERT INTO reads (plate, agency) VALUES (%s, %s) USING TTL 3600", ("XYZ789", "MN0001")
        )
        row = session.execute(
            "SELECT agency, TTL(agency) AS ttl FROM reads WHERE plate = %s", ("XYZ789",)
        ).one()
        assert row.agency == "MN0001"
        assert 3500 < row.ttl <= 3600
        assert session.execute("SELECT * FROM reads WHERE plate = 'ABC123'").one() is not None
        time.sleep(3)  # the short TTL expires: the read is gone
        assert session.execute("SELECT * FROM reads WHERE plate = 'ABC123'").one() is None
        session.execute(f"DROP KEYSPACE {keyspace}")
    finally:
        cluster.shutdown()
