"""`lprx audit report` on the real store, through the API as an auditor: audit events
seeded in Cassandra (chained as the store agent writes them) raise each flag, reads
kept show in the collection and destruction records, and the export is itself audited."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.cassandra import CassandraStore
from pipelines.settings import Settings
from schemas.people import Role
from schemas.records import AuditAction, AuditEvent, new_id, utcnow
from tests.factories import a_read
from tests.integration.pipelines.served import Cli, person, served_api
from tests.integration.pipelines.test_cli_transparency import audit_events

AGENCY, PARTNER = "MN9990100", "MN9990200"
WHY = {"case_number": "26-001234", "factual_basis": "Stolen overnight, owner statement on file"}


def search(at: datetime, actor: str, plate: str, **details: str) -> AuditEvent:
    return AuditEvent(new_id(), at, actor, AuditAction.SEARCH, "reads", f"plate={plate}",
                      actor_agency_ori=AGENCY, purpose="stolen_vehicle",
                      details={**WHY, "stage": "opened", **details})  # fmt: skip


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_the_audit_export_flags_what_it_should(
    store: CassandraStore, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = utcnow()
    day = f"{now:%Y-%m-%d}"
    noon = datetime(now.year, now.month, now.day, 18, tzinfo=UTC)  # 12:00 in Minnesota
    night = noon.replace(hour=8)  # 02:00 in Minnesota
    reads = [a_read(plate=f"AR{i:04d}", agency_ori=AGENCY, collected_at=now - timedelta(
        minutes=i)) for i in range(3)]  # fmt: skip
    assert all(o.ok for o in store.write_reads(reads, now))
    events = [
        *(search(noon + timedelta(minutes=i), "inv.rep", "ABC123") for i in range(3)),
        search(noon, "inv.nocase", "KLM456", case_number="none"),
        search(night, "inv.night", "NGT111"),
        AuditEvent(new_id(), noon, "svc:share", AuditAction.DISSEMINATE, "hit", "hit-1",
                   actor_agency_ori=AGENCY, recipient_agency_ori=PARTNER,
                   details={"plate_category": "STOLEN_VEHICLE"}),
        AuditEvent(new_id(), noon, "adm.c", AuditAction.AGREEMENT_CHANGE, "agreement",
                   f"{AGENCY}->{PARTNER}", actor_agency_ori=AGENCY,
                   recipient_agency_ori=PARTNER, details={"change": "granted"}),
    ]  # fmt: skip
    assert all(o.ok for o in store.write_audit(events))
    folder = tmp_path / "export"
    with served_api(settings) as url:
        cli = Cli(url, tmp_path / "home", monkeypatch)
        cli.login("aud.r", person(settings, "aud.r", AGENCY, Role.AUDITOR))
        other = cli("audit", "report", "--agency", PARTNER, "--from", day, "--to", day)
        assert other.exit_code == 1 and "403" in other.output
        done = cli("audit", "report", "--agency", AGENCY, "--from", day, "--to", day,
                   "--repeat-threshold", "3", "--output", str(folder))  # fmt: skip
        assert done.exit_code == 0, done.output
    flags = {(f["flag"], f["actor"]) for f in rows(folder / "flags.csv")}
    assert flags == {("repeated_plate_searches", "inv.rep"),
                     ("search_without_case_number", "inv.nocase"),
                     ("outside_working_hours", "inv.night"),
                     ("agreement_changed", "adm.c")}  # fmt: skip
    accesses = rows(folder / "accesses.csv")
    assert {a["factual_basis"] for a in accesses if a["actor"] == "inv.rep"} == {
        WHY["factual_basis"]
    }
    (sharing,) = rows(folder / "sharing.csv")
    assert sharing["recipient_agency_ori"] == PARTNER
    (kept,) = rows(folder / "collection_and_destruction.csv")
    assert (kept["reads_kept"], kept["classification"]) == ("3", "NONPUBLIC")
    assert kept["destroyed_on"] == f"{now.date() + timedelta(days=60)}"
    audited = audit_events(settings, lambda e: e.actor == "aud.r" and e.target_kind == "audit")
    assert {e.outcome.value for e in audited} == {"SUCCESS", "DENIED"}
    assert any(e.details.get("results") == str(len(accesses)) for e in audited)
