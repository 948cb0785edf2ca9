"""`lprx transparency report` on the real store; `lprx holds` and `lprx audit verify`
through the API, logged in as a supervisor and an auditor."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.cassandra import CassandraStore
from connectors.kafka.reader import read_values
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.people import Role
from schemas.records import AuditAction, AuditEvent, new_id, utcnow
from tests.conftest import wait_for
from tests.factories import a_hit, a_read
from tests.integration.pipelines.served import Cli, invoke, person, served_api

AGENCY = "MN9990100"


def audit_events(settings: Settings, want: Callable[[AuditEvent], bool]) -> list[AuditEvent]:
    codec = SingleObjectCodec()

    def found() -> list[AuditEvent] | None:
        values = read_values(settings, settings.topic("audit"), 1000, 10)
        return [e for e in (AuditEvent.decode(codec, v) for v in values) if want(e)] or None

    return wait_for(found, 30, "the audit events")


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


@pytest.fixture
def cli(store: CassandraStore, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:  # fmt: skip
    with served_api(settings) as url:
        yield Cli(url, tmp_path, monkeypatch)


def test_holds_through_the_cli_as_a_supervisor(
    store: CassandraStore, settings: Settings, cli: Cli
) -> None:
    now = utcnow()
    read = a_read(plate="CLIH01", agency_ori=AGENCY, collected_at=now - timedelta(days=1),
                  expires_at=now + timedelta(days=59))  # fmt: skip
    assert store.write_reads([read], now)[0].ok
    place = ("holds", "place", "--case", "26-004711", "--reason",
             "vehicle seen at the burglary scene", "--plate", "CLIH01", "--read-id",
             read.read_id, "--review-by", f"{now + timedelta(days=5):%Y-%m-%d}")  # fmt: skip
    cli.login("inv.h", person(settings, "inv.h", AGENCY, Role.INVESTIGATOR))
    refused = cli(*place)
    assert refused.exit_code == 1 and "403" in refused.output
    cli.login("sgt.berg", person(settings, "sgt.berg", AGENCY, Role.SUPERVISOR))
    result = cli(*place)
    assert result.exit_code == 0, result.output
    hold_id = result.output.split()[1].rstrip(":")
    assert "1 reads of CLIH01 kept" in result.output
    ttl = store.session.execute(
        f"SELECT TTL(agency_ori) AS t FROM {settings.cassandra_keyspace}.reads_by_plate "
        "WHERE plate = %s", ("CLIH01",)).one().t  # fmt: skip
    assert ttl > 34 * 86400  # review in 5 days + 30 days' grace, not the read's own 59
    listed = cli("holds", "due", "--within-days", "7")
    assert listed.exit_code == 0 and hold_id in listed.output, listed.output
    assert "sgt.berg" in cli("holds", "list").output
    bad = cli("holds", "place", "--case", " ", "--reason", "short", "--plate", "CLIH01")
    assert bad.exit_code == 1 and "case or complaint number" in bad.output
    reviewed = cli("holds", "review", hold_id, "--review-by",
                   f"{now + timedelta(days=10):%Y-%m-%d}", "--note", "still open")  # fmt: skip
    assert reviewed.exit_code == 0, reviewed.output
    released = cli("holds", "release", hold_id, "--note", "case closed")
    assert released.exit_code == 0, released.output
    assert "1 reads back to their original date" in released.output
    assert cli("holds", "release", hold_id, "--note", "again").exit_code == 1
    events = audit_events(settings, lambda e: e.actor == "sgt.berg" and e.target_id == hold_id)
    assert {e.details.get("step") for e in events} >= {"place", "kept", "review", "release"}


def test_an_auditor_verifies_its_agencys_chain_through_the_cli(
    store: CassandraStore, settings: Settings, cli: Cli
) -> None:
    now = utcnow()
    events = [AuditEvent(new_id(), now, "inv.v", AuditAction.SEARCH, "reads", f"plate=V{i}",
                         actor_agency_ori=AGENCY, purpose="stolen_vehicle") for i in range(3)]  # fmt: skip
    assert all(o.ok for o in store.write_audit(events))  # chained as the store agent does
    cli.login("sgt.v", person(settings, "sgt.v", AGENCY, Role.SUPERVISOR))
    assert cli("audit", "verify").exit_code == 1  # a supervisor does not verify
    cli.login("aud.v", person(settings, "aud.v", AGENCY, Role.AUDITOR))
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert f"chain {AGENCY}" in result.output and "intact" in result.output
    checked = int(result.output.split(" events checked")[0].split()[-1])
    assert checked >= 3
    (audited,) = audit_events(settings, lambda e: e.actor == "aud.v" and e.target_kind == "audit"
                              and "results" in e.details)  # fmt: skip
    assert audited.details["results"] == str(checked)
