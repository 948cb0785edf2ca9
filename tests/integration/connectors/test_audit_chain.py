"""The chained audit trail on a real Cassandra: written by the worker's role, tampered
with by a superuser (trigger dropped), and every change, insertion and removal named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from cassandra import InvalidRequest, Unauthorized
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.cassandra import CassandraStore, connect
from connectors.cassandra.audit_queries import AuditChainQueries
from connectors.cassandra.roles import APPEND_ONLY_TABLES, TRIGGER_NAME
from connectors.cassandra.rows import audit_day
from connectors.cassandra.security import READER_ROLE, WRITER_ROLE
from connectors.kafka.audit import MemoryAuditTrail
from connectors.security.signing import key_id
from pipelines.services.audit_chain import load_and_verify, sign_checkpoints
from pipelines.settings import Settings
from schemas.records import AuditAction, AuditEvent, new_id, utcnow
from tests.conftest import provision, unique_settings


@pytest.fixture
def settings(servers: Settings) -> Iterator[Settings]:
    settings = provision(unique_settings(servers, topic_partitions=1))
    yield settings
    cluster, admin = connect(settings)
    try:
        admin.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
    finally:
        cluster.shutdown()


def as_role(settings: Settings, role: str) -> Settings:
    return settings.model_copy(update={"cassandra_username": role})


def events(agency: str, n: int) -> list[AuditEvent]:
    now = utcnow().replace(microsecond=0)
    return [
        AuditEvent(new_id(), now + timedelta(milliseconds=i), "j.doe", AuditAction.SEARCH,
                   "query", f"plate=CH{i}", actor_agency_ori=agency, purpose="case 26-0042")
        for i in range(n)
    ]  # fmt: skip


def chain_seqs(queries: AuditChainQueries, agency: str) -> list[int]:
    return sorted(link.seq for link in queries.links(agency, audit_day(utcnow())))


def test_redelivery_and_a_second_writer_never_fork_the_chain(settings: Settings) -> None:
    agency = "MN9990100"
    first, later = events(agency, 5), events(agency, 3)
    with (
        CassandraStore(as_role(settings, WRITER_ROLE), create_schema=False) as writer,
        CassandraStore(as_role(settings, WRITER_ROLE), create_schema=False) as stale,
        CassandraStore(settings, create_schema=False) as admin,
    ):
        assert all(o.ok for o in writer.write_audit(first))
        # The same batch again (a redelivery after a restart), by another process.
        assert all(o.ok for o in stale.write_audit(first))
        # The second writer moves the head; the first, whose head is stale, must not
        # chain over it: its compare-and-set fails, it reloads and goes on after.
        assert all(o.ok for o in stale.write_audit(later[:2]))
        # The first writer gets a batch the second already chained in part (a partition
        # moved between them): the chained events are skipped, the others go after.
        assert all(o.ok for o in writer.write_audit(later))
        queries = AuditChainQueries(admin.session, admin.keyspace)
        assert chain_seqs(queries, agency) == list(range(1, 9))
        day = audit_day(utcnow())
        result = load_and_verify(queries, agency, day, day, {})
        assert result.intact, result.findings
        assert (result.events_checked, result.last_seq) == (8, 8)


def test_verify_names_each_row_changed_inserted_or_removed_by_a_superuser(
    settings: Settings,
) -> None:
    agency = "MN9990200"
    batch = events(agency, 6)
    key = Ed25519PrivateKey.generate()
    keys = {key_id(key.public_key()): key.public_key()}
    ks = settings.cassandra_keyspace
    with (
        CassandraStore(as_role(settings, WRITER_ROLE), create_schema=False) as writer,
        CassandraStore(settings, create_schema=False) as admin,
    ):
        assert all(o.ok for o in writer.write_audit(batch))
        queries = AuditChainQueries(admin.session, admin.keyspace)
        trail = MemoryAuditTrail()
        signed = sign_checkpoints(queries, trail, key, "auditor.k")
        assert [(c.chain, c.seq) for c in signed] == [(agency, 6)]
        assert trail.events[0].target_id == f"{agency}#6"
        day = audit_day(utcnow())
        assert load_and_verify(queries, agency, day, day, keys).intact
        # A superuser drops the append-only trigger and edits the trail.
        session = admin.session
        session.execute(f"DROP TRIGGER {TRIGGER_NAME} ON {ks}.audit_events")
        changed, removed = batch[1], batch[3]
        session.execute(
            f"UPDATE {ks}.audit_events SET purpose = 'just curious' WHERE day = %s "
            "AND occurred_at = %s AND event_id = %s",
            (day, changed.occurred_at, changed.event_id),
        )
        session.execute(
            f"DELETE FROM {ks}.audit_events WHERE day = %s AND occurred_at = %s AND event_id = %s",
            (day, removed.occurred_at, removed.event_id),
        )
        session.execute(
            f"INSERT INTO {ks}.audit_events (day, occurred_at, event_id, actor, "
            "actor_agency_ori, action, target_kind, target_id, outcome) "
            "VALUES (%s, %s, 'forged', 'ghost', %s, 'SEARCH', 'query', 'plate=X', 'SUCCESS')",
            (day, batch[4].occurred_at, agency),
        )
        result = load_and_verify(queries, agency, day, day, keys)
        assert [(f.kind, f.seq, f.event_id) for f in result.findings] == [
            ("changed", 2, changed.event_id),
            ("removed", 4, removed.event_id),
            ("inserted", None, "forged"),
        ]
        # Cutting the chain's tail off (links too) is caught by the signed checkpoint.
        session.execute(f"DROP TRIGGER audit_chain_append_only ON {ks}.audit_chain")
        for seq in (5, 6):
            session.execute(
                f"DELETE FROM {ks}.audit_chain WHERE chain_day_key = %s AND seq = %s",
                (f"{agency}/{day}", seq),
            )
        kinds = [(f.kind, f.seq) for f in load_and_verify(queries, agency, day, day, keys).findings]
        assert ("removed", 5) in kinds


def test_no_service_role_can_change_the_chain(settings: Settings) -> None:
    ks = settings.cassandra_keyspace
    with CassandraStore(as_role(settings, WRITER_ROLE), create_schema=False) as writer:
        assert all(o.ok for o in writer.write_audit(events("MN9990300", 2)))
        session = writer.session
        key = f"chain_day_key = 'MN9990300/{audit_day(utcnow())}' AND seq = 1"
        for statement in (
            f"UPDATE {ks}.audit_chain SET event_id = 'x' WHERE {key}",
            f"DELETE FROM {ks}.audit_chain WHERE {key}",
        ):
            with pytest.raises(InvalidRequest, match="append-only"):
                session.execute(statement)
        for statement in (
            f"SELECT * FROM {ks}.audit_events WHERE day = '2026-01-01'",
            f"SELECT * FROM {ks}.audit_checkpoints WHERE chain = 'MN9990300'",
        ):
            with pytest.raises(Unauthorized):
                session.execute(statement)
    cluster, reader = connect(as_role(settings, READER_ROLE))
    try:
        for table in APPEND_ONLY_TABLES:
            assert reader.execute(f"SELECT * FROM {ks}.{table} LIMIT 1") is not None
        with pytest.raises(Unauthorized):
            reader.execute(
                f"INSERT INTO {ks}.audit_events (day, occurred_at, event_id, actor, action, "
                "outcome) VALUES ('2026-01-02', toTimestamp(now()), 'r1', 'r', 'SEARCH', "
                "'SUCCESS')"
            )
    finally:
        cluster.shutdown()


def test_links_claimed_by_a_writer_that_crashed_are_taken_by_the_redelivered_events(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    agency = "MN9990400"
    batch, later = events(agency, 4), events(agency, 2)
    with CassandraStore(as_role(settings, WRITER_ROLE), create_schema=False) as crashed:
        chains = crashed._audit

        def crash(*_: object) -> list[object]:
            raise SystemExit("killed after the claim, before the rows")

        monkeypatch.setattr(chains, "_write_rows", crash)
        with pytest.raises(SystemExit):
            crashed.write_audit(batch)
    # A new worker gets the batch again (its offsets were never committed), then more.
    with (
        CassandraStore(as_role(settings, WRITER_ROLE), create_schema=False) as restarted,
        CassandraStore(settings, create_schema=False) as admin,
    ):
        assert all(o.ok for o in restarted.write_audit(batch))
        assert all(o.ok for o in restarted.write_audit(later))
        queries = AuditChainQueries(admin.session, admin.keyspace)
        assert chain_seqs(queries, agency) == list(range(1, 7))
        day = audit_day(utcnow())
        assert load_and_verify(queries, agency, day, day, {}).intact


def test_events_another_writer_chains_during_the_claim_are_not_chained_twice(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    agency = "MN9990500"
    first, raced = events(agency, 2), events(agency, 3)
    with (
        CassandraStore(as_role(settings, WRITER_ROLE), create_schema=False) as writer,
        CassandraStore(as_role(settings, WRITER_ROLE), create_schema=False) as other,
        CassandraStore(settings, create_schema=False) as admin,
    ):
        assert all(o.ok for o in writer.write_audit(first))
        chains = writer._audit
        looked_up = chains._already_chained
        calls = []

        def racing(event_ids: list[str]) -> set[str]:
            calls.append(event_ids)
            if len(calls) == 1:
                # Between this look-up and the claim, the other writer chains two of them.
                assert all(o.ok for o in other.write_audit(raced[:2]))
                return set()
            return looked_up(event_ids)

        monkeypatch.setattr(chains, "_already_chained", racing)
        assert all(o.ok for o in writer.write_audit(raced))
        queries = AuditChainQueries(admin.session, admin.keyspace)
        assert chain_seqs(queries, agency) == [1, 2, 3, 4, 5]
        day = audit_day(utcnow())
        assert load_and_verify(queries, agency, day, day, {}).intact
