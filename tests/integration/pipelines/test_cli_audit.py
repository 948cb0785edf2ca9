"""Audited access through the CLI, on the real Kafka and Cassandra: no audit, no data.

Every look-up's audit event goes to the audit topic, and nothing is shown until Kafka
has acknowledged it; a store worker copies the topic to Cassandra, where `lprx audit`
reads the trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.cassandra import CassandraStore
from connectors.kafka.reader import read_values
from pipelines import cli
from pipelines.cli import common
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.records import AuditEvent, AuditOutcome, utcnow
from tests.conftest import Process, free_port, provision, settings_env, unique_settings, wait_for
from tests.factories import a_read

CODEC = SingleObjectCodec()
AGENCY = "MN9990001"
PURPOSE = "case 26-001234 stolen vehicle"


@pytest.fixture
def settings(servers: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """This test's own topics, users, ACLs and keyspace, seen by every CLI command."""
    settings = provision(unique_settings(servers, topic_partitions=1))
    # The commands log in as their own roles (look-ups: lprx_reader), as in production.
    unnamed = settings.model_copy(update={"kafka_principal": None, "cassandra_username": None})
    monkeypatch.setattr(common, "settings", lambda: unnamed)
    return settings


@pytest.fixture
def store(settings: Settings) -> Iterator[CassandraStore]:
    with CassandraStore(settings, create_schema=False) as store:
        yield store
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "200"})


def audit_topic(settings: Settings, want: int) -> list[AuditEvent]:
    """The audit topic's events, once it holds at least ``want`` of them."""

    def events() -> list[AuditEvent] | None:
        values = read_values(settings, settings.topic("audit"), 100, 10)
        return [AuditEvent.decode(CODEC, v) for v in values] if len(values) >= want else None

    return wait_for(events, 30, f"{want} audit events")


def test_search_without_a_purpose_is_refused_and_audited(
    settings: Settings, store: CassandraStore
) -> None:
    now = utcnow()
    store.write_reads([a_read(plate="AUD123", collected_at=now)], now)
    result = invoke("reads", "search", "AUD123", "--user", "j.doe", "--agency", AGENCY,
                    "--purpose", "x")  # fmt: skip
    assert result.exit_code == 1 and "purpose" in result.output
    assert "AUD123" not in result.output.replace("plate=AUD123", "")
    # The command returns only after Kafka acknowledged the refusal's event.
    events = audit_topic(settings, 1)
    assert [(e.actor, e.actor_agency_ori, e.outcome) for e in events] == [
        ("j.doe", AGENCY, AuditOutcome.DENIED)
    ]


def test_search_with_a_purpose_shows_reads_and_is_audited(
    settings: Settings, store: CassandraStore
) -> None:
    now = utcnow()
    store.write_reads([a_read(plate="AUD456", collected_at=now)], now)
    result = invoke("reads", "search", "aud-456", "--user", "j.doe", "--agency", AGENCY,
                    "--purpose", PURPOSE)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "AUD456" in result.output and "1 reads" in result.output
    events = audit_topic(settings, 2)
    assert {(e.actor, e.target_id, e.purpose) for e in events} == {
        ("j.doe", "plate=AUD456", PURPOSE)
    }
    assert [e.details for e in events] == [{}, {"results": "1"}]
    assert all(e.outcome is AuditOutcome.SUCCESS for e in events)


def test_reading_the_audit_trail_is_itself_audited(
    settings: Settings, store: CassandraStore
) -> None:
    result = invoke("audit", "show", "--user", "auditor.k", "--agency", AGENCY, "--purpose",
                    "biennial audit 2026")  # fmt: skip
    assert result.exit_code == 0, result.output
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert [(e.actor, e.target_kind, e.target_id) for e in audit_topic(settings, 2)] == [
        ("auditor.k", "audit", f"day={day}")
    ] * 2


def test_nothing_is_shown_when_the_audit_trail_does_not_acknowledge(
    servers: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A keyspace with the read, but no topics: Kafka cannot take the audit event.
    settings = unique_settings(servers, topic_partitions=1)
    monkeypatch.setattr(common, "settings", lambda: settings)
    with CassandraStore(settings) as store:
        try:
            now = utcnow()
            store.write_reads([a_read(plate="NOAUD12", collected_at=now)], now)
            result = invoke("reads", "search", "NOAUD12", "--user", "j.doe", "--agency",
                            AGENCY, "--purpose", PURPOSE)  # fmt: skip
        finally:
            store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
    assert result.exit_code == 1
    assert "the audit trail could not be written, so nothing is shown" in result.output
    assert "NOAUD12" not in result.output.replace("plate=NOAUD12", "")


def test_the_store_worker_keeps_the_trail_and_reading_it_is_audited(
    settings: Settings,
    store: CassandraStore,
    spawn: Callable[[list[str], dict[str, str]], Process],
) -> None:
    worker = spawn(
        ["worker", "--stages", "store", "--metrics-port", str(free_port())], settings_env(settings)
    )
    result = invoke("reads", "search", "AUD789", "--user", "j.doe", "--agency", AGENCY,
                    "--purpose", PURPOSE)  # fmt: skip
    assert result.exit_code == 0, result.output
    day = datetime.now(UTC).strftime("%Y-%m-%d")

    def stored(want: int) -> list[dict[str, Any]] | None:
        assert worker.alive(), worker.output()
        rows = store.audit_events(day)
        return rows if len(rows) >= want else None

    wait_for(lambda: stored(2), 180, "the search's audit events in Cassandra")
    result = invoke("audit", "show", "--user", "auditor.k", "--agency", AGENCY, "--purpose",
                    "biennial audit 2026")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "j.doe" in result.output and "reads:plate=AUD789" in result.output
    rows = wait_for(lambda: stored(4), 60, "the audit look-up's own events in Cassandra")
    assert any(r["target_kind"] == "audit" and r["actor"] == "auditor.k" for r in rows)
    # The store worker chained the trail: `audit verify` proves it intact, and after
    # `audit checkpoint` a superuser's edit of a stored event is named.
    result = invoke("audit", "checkpoint", "--user", "custodian.a")
    assert result.exit_code == 0, result.output
    assert f"signed {AGENCY}" in result.output
    verify_args = ("audit", "verify", "--agency", AGENCY, "--user", "auditor.k",
                   "--user-agency", AGENCY, "--from", day, "--to", day)  # fmt: skip
    result = invoke(*verify_args)
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    searched = next(r for r in rows if r["actor"] == "j.doe")
    ks = settings.cassandra_keyspace
    store.session.execute(f"DROP TRIGGER audit_append_only ON {ks}.audit_events")
    store.session.execute(
        f"UPDATE {ks}.audit_events SET purpose = 'nothing to see' WHERE day = %s AND "
        "occurred_at = %s AND event_id = %s",
        (day, searched["occurred_at"], searched["event_id"]),
    )
    result = invoke(*verify_args)
    assert result.exit_code == 1
    assert f"changed: event {searched['event_id']}" in result.output.replace("\n", " ")
