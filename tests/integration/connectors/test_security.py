"""Credentials and ACLs against the real (secured) Kafka and Cassandra.

Every refusal is asserted by the error the server sends (an authorization or
authentication failure, a refused handshake), after the same client was shown to work
where it is allowed, so "nothing came back" can never pass for "refused".
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from cassandra import InvalidRequest, Unauthorized
from cassandra.cluster import NoHostAvailable
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from connectors.cassandra import connect
from connectors.cassandra.security import (
    ADMIN_ROLE,
    CHECKPOINT_ROLE,
    CUSTODIAN_ROLE,
    DEFAULT_SUPERUSER,
    READER_ROLE,
    WRITER_ROLE,
)
from connectors.kafka import acls
from connectors.kafka.security import password_file
from connectors.kafka.topics import admin_client, base_config, make_producer
from connectors.security.files import read_secret
from pipelines.access import add_partner, revoke_partner
from pipelines.settings import Settings
from tests.conftest import as_principal, provision, unique_settings, wait_for

pytestmark = pytest.mark.integration

AUTHZ = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}


def new_ori() -> str:
    return f"MN{uuid.uuid4().int % 10**7:07d}"


@pytest.fixture
def settings(servers: Settings) -> Settings:
    return provision(unique_settings(servers, topic_partitions=1))


@pytest.fixture
def partners(settings: Settings) -> Iterator[tuple[str, str]]:
    a, b = new_ori(), new_ori()
    for ori in (a, b):
        add_partner(settings, ori)
    # Something to read in every topic a partner must not read, and in its own.
    producer = make_producer(settings, "test-security-admin")
    for topic in (
        settings.partner_hits_topic(a), settings.partner_hits_topic(b), settings.topic("reads"),
        settings.topic("reads.raw"), settings.topic("deadletter"), settings.topic("audit"),
    ):  # fmt: skip
        producer.produce(topic, key=b"k", value=b"a record")
    assert producer.flush(15) == 0
    yield a, b
    for ori in (a, b):
        revoke_partner(settings, ori)


def partner(settings: Settings, ori: str) -> Settings:
    return as_principal(settings, acls.partner_principal(ori))


def first_outcome(settings: Settings, topic: str, group: str, timeout: float = 20) -> Any:
    """The first message of ``topic`` (bytes) or the error code the broker answers."""
    consumer = Consumer(
        {**base_config(settings), "group.id": group, "enable.auto.commit": False,
         "auto.offset.reset": "earliest"}
    )  # fmt: skip
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is None:
                return message.value()
            if error.code() in AUTHZ:
                return error.code()
        raise AssertionError(f"neither a record nor a refusal from {topic} in {timeout:.0f} s")
    finally:
        consumer.close()


def produce_outcome(settings: Settings, topic: str) -> Any:
    """None when the record was delivered, else the broker's error code."""
    outcomes: list[Any] = []
    producer = Producer(
        {**base_config(settings), "message.timeout.ms": 10000, "enable.idempotence": False}
    )
    producer.produce(topic, key=b"k", value=b"v", on_delivery=lambda err, _m: outcomes.append(err))
    producer.flush(15)
    assert outcomes, f"no delivery report for {topic}"
    return None if outcomes[0] is None else outcomes[0].code()


def test_a_partner_reads_its_own_hits_and_writes_dispositions_and_nothing_else(
    settings: Settings, partners: tuple[str, str]
) -> None:
    a, b = partners
    b_settings = partner(settings, b)
    group = f"{acls.partner_principal(b)}-test"
    assert first_outcome(b_settings, settings.partner_hits_topic(b), group) == b"a record"
    for topic in (
        settings.partner_hits_topic(a), settings.topic("reads"), settings.topic("reads.raw"),
        settings.topic("deadletter"), settings.topic("audit"),
    ):  # fmt: skip
        assert first_outcome(b_settings, topic, group) == KafkaError.TOPIC_AUTHORIZATION_FAILED, (
            topic
        )
    # Its own topic, but in a group that is not its own.
    assert (
        first_outcome(b_settings, settings.partner_hits_topic(b), f"{settings.worker_id}-x")
        == KafkaError.GROUP_AUTHORIZATION_FAILED
    )
    assert produce_outcome(b_settings, settings.topic("dispositions")) is None
    for topic in ("hotlist", "agreements", "hits", "reads.raw"):
        assert (
            produce_outcome(b_settings, settings.topic(topic))
            == KafkaError.TOPIC_AUTHORIZATION_FAILED
        ), topic
    # The ready properties file holds exactly what a partner's client needs.
    props = acls.partner_properties_file(settings, b).read_text()
    assert f"sasl.username={acls.partner_principal(b)}" in props
    assert (acls.partner_properties_file(settings, b).stat().st_mode & 0o077) == 0


def test_a_revoked_partner_is_refused_within_seconds(
    settings: Settings, partners: tuple[str, str]
) -> None:
    _a, b = partners
    b_settings = partner(settings, b)
    secret = read_secret(password_file(settings, acls.partner_principal(b)))
    topic, group = settings.partner_hits_topic(b), f"{acls.partner_principal(b)}-revoked"
    consumer = Consumer(
        {**base_config(b_settings), "group.id": group, "enable.auto.commit": False,
         "auto.offset.reset": "earliest"}
    )  # fmt: skip
    try:
        consumer.subscribe([topic])
        first = wait_for(lambda: consumer.poll(0.5), 20, "the partner's first hit")
        assert first.error() is None
        revoke_partner(settings, b)
        revoked_at = time.monotonic()
        # The same, already logged-in connection: refused at its next fetch or commit.
        producer = make_producer(settings, "test-security-admin")
        producer.produce(topic, key=b"k", value=b"after revocation")
        producer.flush(10)

        def refused() -> bool:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                assert message.value() != b"after revocation", "delivered after revocation"
            return message is not None and message.error() is not None

        wait_for(refused, 15, "the revoked partner's refusal")
        assert time.monotonic() - revoked_at < 15
    finally:
        consumer.close()
    # A new connection, with the password it had, cannot even log in: the credential
    # is gone from the broker (and its file from the cache).
    assert not password_file(settings, acls.partner_principal(b)).exists()
    _kafka_refuses(base_config(b_settings.model_copy(update={"kafka_password": secret})))


def test_a_worker_cannot_drop_topics_or_change_acls_or_users(settings: Settings) -> None:
    worker = admin_client(as_principal(settings, acls.WORKER))
    # It can see its topics (positive control).
    assert settings.topic("reads") in worker.list_topics(timeout=10).topics
    with pytest.raises(KafkaException) as dropped:
        worker.delete_topics([settings.topic("reads")])[settings.topic("reads")].result()
    assert dropped.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    binding = AclBinding(
        ResourceType.TOPIC, settings.topic("reads"), ResourcePatternType.LITERAL,
        f"User:{acls.WORKER}", "*", AclOperation.ALL, AclPermissionType.ALLOW,
    )  # fmt: skip
    with pytest.raises(KafkaException) as granted:
        next(iter(worker.create_acls([binding]).values())).result()
    assert granted.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    upsert = UserScramCredentialUpsertion(
        acls.ADMIN, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"x" * 20
    )
    with pytest.raises(KafkaException) as user:
        next(iter(worker.alter_user_scram_credentials([upsert]).values())).result()
    assert user.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # Still there.
    assert settings.topic("reads") in admin_client(settings).list_topics(timeout=10).topics


def _refusal(future: Future[Any]) -> Any:
    with pytest.raises(KafkaException) as refused:
        future.result()
    return refused.value.args[0].code()


def test_the_api_writes_what_people_change_and_makes_no_topic_user_or_acl(
    settings: Settings,
) -> None:
    api_settings = as_principal(settings, acls.API)
    # What people's calls publish, and what the API follows (positive controls).
    for topic in ("agreements", "hotlist", "dispositions", "audit"):
        assert produce_outcome(api_settings, settings.topic(topic)) is None, topic
    group = f"{acls.API}-test-{uuid.uuid4().hex[:6]}"
    assert first_outcome(api_settings, settings.topic("agreements"), group) == b"v"
    # The reads, the hits and every partner's hits are the store's and the workers'.
    ori = new_ori()
    for topic in ("reads", "reads.raw", "reads.normalized", "hits", "frames", "audit",
                  f"hits.{ori}"):  # fmt: skip
        assert (
            first_outcome(api_settings, settings.topic(topic), group)
            == KafkaError.TOPIC_AUTHORIZATION_FAILED
        ), topic
    for topic in ("reads", "reads.raw", "hits", "frames", "deadletter", f"hits.{ori}"):
        assert (
            produce_outcome(api_settings, settings.topic(topic))
            == KafkaError.TOPIC_AUTHORIZATION_FAILED
        ), topic
    # Its own topic, in a group that is the workers'.
    assert (
        first_outcome(api_settings, settings.topic("agreements"), f"{settings.worker_id}-x")
        == KafkaError.GROUP_AUTHORIZATION_FAILED
    )
    api = admin_client(api_settings)
    partner_topic = NewTopic(settings.topic(f"hits.{ori}"), 1, 1)
    assert _refusal(api.create_topics([partner_topic])[partner_topic.topic]) in {
        KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    }  # fmt: skip
    binding = acls.partner_grants(settings, ori)[0].binding(acls.partner_principal(ori))
    assert (
        _refusal(next(iter(api.create_acls([binding]).values())))
        == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    )
    upsert = UserScramCredentialUpsertion(
        acls.partner_principal(ori), ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
        b"x" * 20,
    )  # fmt: skip
    assert (
        _refusal(next(iter(api.alter_user_scram_credentials([upsert]).values())))
        == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    )
    # None of it happened.
    admin = admin_client(settings)
    assert partner_topic.topic not in admin.list_topics(timeout=10).topics
    assert acls.partner_principal(ori) not in acls.users(admin)


def _kafka_refuses(config: dict[str, Any]) -> None:
    admin = AdminClient({**config, "socket.connection.setup.timeout.ms": 4000})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=6)


def test_kafka_refuses_clients_without_credentials_or_tls_on_every_port(
    settings: Settings,
) -> None:
    host, _, port = settings.kafka_bootstrap_servers.rpartition(":")
    ports = (int(port), settings.kafka_controller_port)
    good = base_config(settings)
    assert admin_client(settings).list_topics(timeout=10).brokers  # positive control
    no_tls = {k: v for k, v in good.items() if not k.startswith(("ssl.", "enable.ssl"))}
    for p in ports:
        server = f"{host}:{p}"
        _kafka_refuses({"bootstrap.servers": server})  # PLAINTEXT
        _kafka_refuses({"bootstrap.servers": server, "security.protocol": "SSL",
                        "ssl.ca.location": good["ssl.ca.location"]})  # fmt: skip
        _kafka_refuses({**no_tls, "bootstrap.servers": server,
                        "security.protocol": "SASL_PLAINTEXT"})  # fmt: skip
        _kafka_refuses({**good, "bootstrap.servers": server, "sasl.password": "wrong"})
    # The controller port takes only the broker's certificate, whatever the password.
    _kafka_refuses({**good, "bootstrap.servers": f"{host}:{ports[1]}"})


def _cassandra_refuses(settings: Settings) -> None:
    with pytest.raises((NoHostAvailable, Exception)):
        cluster, _session = connect(settings)
        cluster.shutdown()


def test_cassandra_refuses_clients_without_tls_or_credentials_on_every_port(
    settings: Settings,
) -> None:
    cluster, session = connect(settings)  # positive control: TLS, as lprx_admin
    assert session.execute("SELECT release_version FROM system.local").one() is not None
    cluster.shutdown()
    _cassandra_refuses(settings.model_copy(update={"cassandra_tls": False}))
    _cassandra_refuses(settings.model_copy(update={"cassandra_username": None}))
    _cassandra_refuses(settings.model_copy(update={"cassandra_password": "wrong"}))
    # The default superuser's well-known password no longer works.
    _cassandra_refuses(
        settings.model_copy(
            update={"cassandra_username": DEFAULT_SUPERUSER, "cassandra_password": "cassandra"}
        )
    )
    # The storage (internode) port: TLS with a CA-signed client certificate, or nothing.
    host, port = settings.cassandra_contact_points[0], settings.cassandra_storage_port
    with socket.create_connection((host, port), timeout=5) as raw:
        raw.sendall(b"\x00" * 64)  # not TLS
        raw.settimeout(5)
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            assert raw.recv(64) == b""
    context = ssl.create_default_context(cafile=str(settings.default_ca_file))
    with pytest.raises((ssl.SSLError, ConnectionResetError, AssertionError)):
        _tls_without_certificate(context, host, port)


def _tls_without_certificate(context: ssl.SSLContext, host: str, port: int) -> None:
    """TLS with the right CA but no client certificate: the node ends the session."""
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(b"\x00" * 64)
        assert tls.recv(64) != b""


def _session(settings: Settings, role: str) -> Any:
    return connect(settings.model_copy(update={"cassandra_username": role}))


def test_the_writer_inserts_audit_rows_but_cannot_change_them_or_the_schema(
    settings: Settings,
) -> None:
    ks = settings.cassandra_keyspace
    insert = (
        f"INSERT INTO {ks}.audit_events (day, occurred_at, event_id, actor, action, outcome) "
        "VALUES ('2026-01-01', '2026-01-01 10:00:00+0000', %s, 'w', 'SEARCH', 'SUCCESS')"
    )
    key = "day = '2026-01-01' AND occurred_at = '2026-01-01 10:00:00+0000' AND event_id = 'e1'"
    cluster, writer = _session(settings, WRITER_ROLE)
    try:
        writer.execute(insert, ("e1",))  # allowed: a new audit row
        # Refused by the append-only trigger (its message), or the TRUNCATE guardrail.
        refused = {
            f"DELETE FROM {ks}.audit_events WHERE {key}": "may not delete a row",
            f"DELETE FROM {ks}.audit_events WHERE day = '2026-01-01'": "delete a partition",
            f"DELETE actor FROM {ks}.audit_events WHERE {key}": "may not update a row",
            f"UPDATE {ks}.audit_events SET actor = 'x' WHERE {key}": "may not update a row",
            insert.replace("%s", "'e1'"): "already holds this row, with the same values",
            insert.replace("%s", "'e1'").replace("'w'", "'x'"): "may not overwrite an existing",
            insert.replace("%s", "'e2'") + " USING TTL 60": "may not insert a row with a TTL",
            f"TRUNCATE {ks}.audit_events": "drop_truncate_table_enabled",
        }
        for statement, reason in refused.items():
            with pytest.raises(InvalidRequest, match=reason):
                writer.execute(statement)
        for statement in (
            f"CREATE TABLE {ks}.mine (k text PRIMARY KEY)",
            f"ALTER TABLE {ks}.audit_events ADD extra text",
            f"DROP TABLE {ks}.audit_events",
            f"DROP TRIGGER audit_append_only ON {ks}.audit_events",
            f"GRANT SELECT ON KEYSPACE {ks} TO {WRITER_ROLE}",
            f"CREATE KEYSPACE {ks}_x WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        ):
            with pytest.raises((Unauthorized, InvalidRequest)):
                writer.execute(statement)
        # It writes the data tables (positive control) but reads no audit.
        writer.execute(
            f"INSERT INTO {ks}.hits_by_id (hit_id, agency_ori) VALUES ('h1', 'MN0000001')"
        )
        with pytest.raises(Unauthorized):
            writer.execute(f"SELECT * FROM {ks}.audit_events WHERE day = '2026-01-01'")
    finally:
        cluster.shutdown()
    cluster, admin = connect(settings)
    try:
        rows = list(admin.execute(f"SELECT actor FROM {ks}.audit_events WHERE {key}"))
        assert [r.actor for r in rows] == ["w"]  # untouched
        assert admin.execute(f"SELECT * FROM {ks}.audit_events WHERE day = '2026-01-01'").all()
    finally:
        cluster.shutdown()


def test_the_custodian_rewrites_copies_of_reads_and_nothing_else(settings: Settings) -> None:
    # The API's hold routes act as it: a hold rewrites the TTLs of every copy of a read.
    ks = settings.cassandra_keyspace
    cluster, custodian = _session(settings, CUSTODIAN_ROLE)
    try:
        custodian.execute(
            f"INSERT INTO {ks}.hits_by_id (hit_id, agency_ori) VALUES ('hc1', 'MN0000001') "
            "USING TTL 5"
        )
        assert custodian.execute(f"SELECT * FROM {ks}.holds LIMIT 1") is not None
        for refused in (
            f"SELECT * FROM {ks}.audit_events WHERE day = '2026-01-02'",
            f"INSERT INTO {ks}.audit_events (day, occurred_at, event_id, actor, action, outcome)"
            " VALUES ('2026-01-02', toTimestamp(now()), 'c1', 'custodian', 'SEARCH', 'SUCCESS')",
            f"SELECT * FROM {ks}.people LIMIT 1",
            f"SELECT * FROM {ks}.usage_reads LIMIT 1",
            f"DROP TABLE {ks}.holds",
        ):
            with pytest.raises(Unauthorized):
                custodian.execute(refused)
    finally:
        cluster.shutdown()


def test_the_checkpoint_signer_reads_chain_heads_and_adds_checkpoints_only(
    settings: Settings,
) -> None:
    ks = settings.cassandra_keyspace
    cluster, signer = _session(settings, CHECKPOINT_ROLE)
    try:
        assert signer.execute(f"SELECT * FROM {ks}.audit_chain_heads LIMIT 1") is not None
        signer.execute(
            f"INSERT INTO {ks}.audit_checkpoints (chain, chain_day, seq, link_hash) "
            "VALUES ('MN0000001', '2026-01-02', 1, 0x00)"
        )
        assert signer.execute(f"SELECT seq FROM {ks}.audit_checkpoints").one().seq == 1
        for refused in (
            f"SELECT * FROM {ks}.audit_events WHERE day = '2026-01-02'",
            f"SELECT * FROM {ks}.audit_chain LIMIT 1",
            f"UPDATE {ks}.audit_chain_heads SET seq = 9 WHERE chain = 'MN0000001'",
            f"SELECT * FROM {ks}.people LIMIT 1",
            f"SELECT * FROM {ks}.reads_by_plate LIMIT 1",
            f"DROP TABLE {ks}.audit_checkpoints",
        ):
            with pytest.raises(Unauthorized):
                signer.execute(refused)
    finally:
        cluster.shutdown()
    # On Kafka it writes the audit of each signing and nothing else.
    kafka = as_principal(settings, acls.CHECKPOINT)
    assert produce_outcome(kafka, settings.topic("audit")) is None
    for topic in ("reads", "hits", "agreements"):
        assert (
            produce_outcome(kafka, settings.topic(topic)) == KafkaError.TOPIC_AUTHORIZATION_FAILED
        ), topic
    group = f"{acls.CHECKPOINT}-test-{uuid.uuid4().hex[:6]}"
    assert first_outcome(kafka, settings.topic("audit"), group) in AUTHZ  # reads nothing


def test_the_reader_reads_and_writes_nothing_not_even_audit_rows(settings: Settings) -> None:
    # Its accesses reach the trail through the audit topic, chained by the store.
    ks = settings.cassandra_keyspace
    cluster, reader = _session(settings, READER_ROLE)
    try:
        assert reader.execute(f"SELECT * FROM {ks}.hits_by_id LIMIT 1") is not None
        with pytest.raises(Unauthorized):
            reader.execute(
                f"INSERT INTO {ks}.audit_events (day, occurred_at, event_id, actor, action,"
                " outcome) VALUES ('2026-01-02', toTimestamp(now()), 'r1', 'reader', 'SEARCH',"
                " 'SUCCESS')"
            )
        with pytest.raises(Unauthorized):
            reader.execute(
                f"INSERT INTO {ks}.hits_by_id (hit_id, agency_ori) VALUES ('h2', 'MN0000001')"
            )
        with pytest.raises(Unauthorized):
            reader.execute(f"DELETE FROM {ks}.audit_events WHERE day = '2026-01-02'")
    finally:
        cluster.shutdown()
    assert settings.cassandra_username == ADMIN_ROLE  # the tests' own login: schema owner
