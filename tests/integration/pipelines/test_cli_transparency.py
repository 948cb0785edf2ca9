"""`lprx transparency report` and `lprx holds` on the real store, as their roles."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.cassandra import CassandraStore
from pipelines import cli
from pipelines.cli import common
from pipelines.settings import Settings
from schemas.records import AuditAction, AuditEvent, new_id, utcnow
from tests.conftest import provision, unique_settings
from tests.factories import a_hit, a_read

AGENCY = "MN9990100"


@pytest.fixture
def store(servers: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CassandraStore]:
    settings = provision(unique_settings(servers, topic_partitions=1))
    unnamed = settings.model_copy(update={"kafka_principal": None, "cassandra_username": None})
    monkeypatch.setattr(common, "settings", lambda: unnamed)
    with CassandraStore(settings, create_schema=False) as store:
        yield store
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "200"})


def test_the_public_report_counts_what_the_store_kept(store: CassandraStore) -> None:
    now = utcnow().replace(hour=12)
    day = f"{now:%Y-%m-%d}"
    reads = [a_read(plate=f"TR{i:04d}", agency_ori=AGENCY, camera_id="hwy7-east",
                    collected_at=now - timedelta(hours=i % 2)) for i in range(5)]  # fmt: skip
    assert all(o.ok for o in store.write_reads(reads, now))
    assert store.write_hits([a_hit(read=reads[0], matched_at=now)], now)[0].ok
    shared = AuditEvent(new_id(), now, "svc:share", AuditAction.DISSEMINATE, "hit", "h1",
                        actor_agency_ori=AGENCY, recipient_agency_ori="MN9990200")  # fmt: skip
    assert store.write_audit([shared])[0].ok
    result = invoke("transparency", "report", "--agency", AGENCY, "--from", day, "--to", day,
                    "--format", "csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert ["total", "reads", "5"] in rows and ["total", "hits", "1"] in rows
    assert ["camera_hours_collecting", "hwy7-east", "2"] in rows
    assert ["shared_with", "MN9990200", "1"] in rows
    assert not any("TR0" in cell for row in rows for cell in row)  # no plate
    page = invoke("transparency", "report", "--agency", AGENCY, "--from", day, "--to", day)
    assert page.exit_code == 0 and "<strong>5</strong> plates" in page.output
    assert invoke("transparency", "report", "--agency", AGENCY, "--from", "x", "--to",
                  day).exit_code == 1  # fmt: skip


def test_holds_through_the_cli_as_the_custodian_and_reader_roles(store: CassandraStore) -> None:
    now = utcnow()
    read = a_read(plate="CLIH01", agency_ori=AGENCY, collected_at=now - timedelta(days=1),
                  expires_at=now + timedelta(days=59))  # fmt: skip
    assert store.write_reads([read], now)[0].ok
    who = ("--user", "sgt.berg", "--agency", AGENCY)
    result = invoke("holds", "place", *who, "--case", "26-004711", "--reason",
                    "vehicle seen at the burglary scene", "--plate", "CLIH01", "--read-id",
                    read.read_id, "--review-by", f"{now + timedelta(days=5):%Y-%m-%d}")  # fmt: skip
    assert result.exit_code == 0, result.output
    hold_id = result.output.split()[1].rstrip(":")
    assert "1 reads of CLIH01 kept" in result.output
    listed = invoke("holds", "due", *who, "--within-days", "7")
    assert listed.exit_code == 0 and hold_id in listed.output, listed.output
    refused = invoke("holds", "place", *who, "--case", " ", "--reason", "short", "--plate",
                     "CLIH01")  # fmt: skip
    assert refused.exit_code == 1 and "case or complaint number" in refused.output
    released = invoke("holds", "release", hold_id, *who, "--note", "case closed")
    assert released.exit_code == 0, released.output
    assert "1 reads back to their original date" in released.output
    assert invoke("holds", "release", hold_id, *who, "--note", "again").exit_code == 1
