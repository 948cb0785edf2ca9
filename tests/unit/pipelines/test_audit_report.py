"""The biennial audit's export from audit rows, usage counters and holds: each flag
raised by the events that should raise it, and no other."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.cassandra.holds import HeldRead
from connectors.cassandra.rows import audit_row
from connectors.cassandra.usage import CameraHour, HitCount
from pipelines.services.audit_report import ReportRules, as_rows, build, csv_files
from schemas.holds import Hold, HoldKind
from schemas.records import AuditAction, AuditEvent, AuditOutcome

AGENCY, PARTNER = "MN9990100", "MN9990200"
DAY = "2026-11-02"
NOON = datetime(2026, 11, 2, 18, 0, tzinfo=UTC)  # 12:00 in Minnesota
WHY = {"case_number": "26-001234", "factual_basis": "Stolen overnight, owner statement on file"}


def search(n: int, actor: str, plate: str, *, at: datetime = NOON, case: str | None = "26-001234",
           agency: str = AGENCY, shown: bool = False) -> AuditEvent:  # fmt: skip
    details = {**WHY, "case_number": case} if case is not None else {}
    if shown:
        details["results"] = "1"
    return AuditEvent(event_id=f"s{n}{'-shown' if shown else ''}", occurred_at=at, actor=actor,
                      action=AuditAction.SEARCH, target_kind="reads", target_id=f"plate={plate}",
                      actor_agency_ori=agency, purpose="stolen_vehicle",
                      details={k: v for k, v in details.items() if v is not None})  # fmt: skip


class Trail:
    def __init__(self, events: list[AuditEvent]) -> None:
        self.events = events

    def event_rows(self, day: str) -> list[Sequence[Any]]:
        return [audit_row(e) for e in self.events if f"{e.occurred_at:%Y-%m-%d}" == day]


class Usage:
    def camera_hours(self, agency_ori: str, first_day: str, last_day: str) -> list[CameraHour]:
        return [CameraHour(DAY, "hwy7", 9, 30), CameraHour(DAY, "hwy7", 10, 12)]

    def hit_counts(self, agency_ori: str, first_day: str, last_day: str) -> list[HitCount]:
        return []


class Held:
    def holds(self) -> list[Hold]:
        return [Hold("h1", AGENCY, HoldKind.INVESTIGATIVE, "26-9", "seen at the scene", "sgt",
                     NOON, NOON + timedelta(days=90), "ABC123")]  # fmt: skip

    def held_reads(self, hold_id: str) -> list[HeldRead]:
        return [HeldRead("r1", "ABC123", NOON, AGENCY, NOON + timedelta(days=60))]


def test_each_flag_and_the_sections() -> None:
    events = [
        *(search(i, "inv.rep", "ABC123") for i in range(4)),  # four times: the threshold
        search(9, "inv.rep", "ABC123", shown=True),  # the ids shown: not another search
        search(10, "inv.ok", "XYZ999"),
        search(11, "inv.nocase", "KLM456", case=None),
        search(12, "inv.na", "KLM457", case="N/A"),
        search(13, "inv.night", "NGT111", at=datetime(2026, 11, 2, 8, 30, tzinfo=UTC)),  # 02:30
        search(14, "inv.other", "ABC123", agency="MN9990300"),  # another agency's, not ours
        AuditEvent(event_id="d1", occurred_at=NOON, actor="svc:share",
                   action=AuditAction.DISSEMINATE, target_kind="hit", target_id="hit-1",
                   actor_agency_ori=AGENCY, recipient_agency_ori=PARTNER,
                   details={"plate_category": "STOLEN_VEHICLE", "agreement_id": "a1"}),
        AuditEvent(event_id="g1", occurred_at=NOON, actor="admin.c",
                   action=AuditAction.AGREEMENT_CHANGE, target_kind="agreement",
                   target_id=f"{AGENCY}->{PARTNER}", actor_agency_ori=AGENCY,
                   recipient_agency_ori=PARTNER, details={"change": "granted"}),
        AuditEvent(event_id="x1", occurred_at=NOON, actor="inv.denied",
                   action=AuditAction.ACCESS_DENIED, target_kind="reads", target_id="plate=Q1",
                   outcome=AuditOutcome.DENIED, actor_agency_ori=AGENCY,
                   details={"reason": "a case number is required"}),
    ]  # fmt: skip
    report = build(Trail(events), Usage(), Held(), AGENCY, DAY, DAY, 60,
                   ReportRules(repeat_threshold=4), "aud.c",
                   now=datetime(2027, 1, 15, tzinfo=UTC))  # fmt: skip
    flags = {(f["flag"], f["actor"]) for f in report.flags}
    assert flags == {
        ("repeated_plate_searches", "inv.rep"),
        ("search_without_case_number", "inv.nocase"),
        ("search_without_case_number", "inv.na"),
        ("outside_working_hours", "inv.night"),
        ("agreement_changed", "admin.c"),
    }
    repeated = next(f for f in report.flags if f["flag"] == "repeated_plate_searches")
    assert "searched ABC123 4 times" in repeated["detail"]
    assert len(report.accesses) == 9  # 8 of ours (one search each) and the refusal
    denied = next(a for a in report.accesses if a["outcome"] == "DENIED")
    assert denied["reason_refused"] == "a case number is required"
    assert report.accesses[0]["factual_basis"] == WHY["factual_basis"]
    assert [(s["recipient_agency_ori"], s["category"]) for s in report.sharing] == [
        (PARTNER, "STOLEN_VEHICLE")
    ]
    (day,) = report.days
    assert (day["reads_kept"], day["destroyed_on"], day["kept_by_holds_now"]) == (
        42, "2027-01-01", 1,
    )  # fmt: skip
    assert day["destruction"] == "done (TTL)"
    files = csv_files(as_rows(report))
    assert set(files) >= {"summary.csv", "accesses.csv", "flags.csv", "sharing.csv"}
    assert "flags_repeated_plate_searches,1" in files["summary.csv"]


def test_night_shift_hours_wrap_past_midnight() -> None:
    rules = ReportRules(work_start_hour=22, work_end_hour=6, timezone="UTC")
    assert rules.working(datetime(2026, 11, 2, 23, tzinfo=UTC))
    assert rules.working(datetime(2026, 11, 2, 5, tzinfo=UTC))
    assert not rules.working(datetime(2026, 11, 2, 12, tzinfo=UTC))


def test_a_period_at_the_end_of_the_calendar_is_answered() -> None:
    report = build(Trail([]), Usage(), None, AGENCY, "9999-12-30", "9999-12-31", 60,
                   ReportRules(), "aud.c")  # fmt: skip
    assert [d["destroyed_on"] for d in report.days] == ["9999-12-31", "9999-12-31"]
