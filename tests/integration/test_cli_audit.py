"""Audited access through the CLI, against the real Cassandra: no audit, no data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from connectors.cassandra import CassandraStore
from pipelines import cli
from pipelines.access import Role, as_role
from pipelines.settings import Settings
from schemas.records import utcnow
from tests.conftest import provision, unique_settings
from tests.factories import a_read


@pytest.fixture
def store(servers: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CassandraStore]:
    settings = provision(unique_settings(servers))
    # The commands log in as their own roles (look-ups: lprx_reader), as in production.
    unnamed = settings.model_copy(update={"kafka_principal": None, "cassandra_username": None})
    monkeypatch.setattr(cli, "_settings", lambda role=Role.SETUP: as_role(unnamed, role))
    with CassandraStore(settings, create_schema=False) as store:
        yield store
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


def today_events(store: CassandraStore) -> list[dict[str, object]]:
    return store.audit_events(datetime.now(UTC).strftime("%Y-%m-%d"))


def test_search_without_a_purpose_is_refused_and_audited(store: CassandraStore) -> None:
    now = utcnow()
    store.write_reads([a_read(plate="AUD123", collected_at=now)], now)
    result = CliRunner().invoke(
        cli.app,
        ["reads", "search", "AUD123", "--user", "j.doe", "--agency", "MN9990001", "--purpose", "x"],
    )
    assert result.exit_code == 1 and "purpose" in result.output
    assert "AUD123" not in result.output.replace("plate=AUD123", "")
    events = today_events(store)
    assert [(e["actor"], e["outcome"]) for e in events] == [("j.doe", "DENIED")]


def test_search_with_a_purpose_shows_reads_and_is_audited(store: CassandraStore) -> None:
    now = utcnow()
    store.write_reads([a_read(plate="AUD456", collected_at=now)], now)
    result = CliRunner().invoke(
        cli.app,
        ["reads", "search", "aud-456", "--user", "j.doe", "--agency", "MN9990001",
         "--purpose", "case 26-001234 stolen vehicle"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "AUD456" in result.output and "1 reads" in result.output
    events = today_events(store)
    assert {(e["actor"], e["target_id"], e["purpose"]) for e in events} == {
        ("j.doe", "plate=AUD456", "case 26-001234 stolen vehicle")
    }
    assert any(e["details"] == {"results": "1"} for e in events)


def test_reading_the_audit_trail_is_itself_audited(store: CassandraStore) -> None:
    result = CliRunner().invoke(
        cli.app,
        [
            "audit",
            "--user",
            "auditor.k",
            "--agency",
            "MN9990001",
            "--purpose",
            "biennial audit 2026",
        ],
    )
    assert result.exit_code == 0, result.output
    assert any(
        e["target_kind"] == "audit" and e["actor"] == "auditor.k" for e in today_events(store)
    )
