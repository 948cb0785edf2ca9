"""The public log of use from counters and audit rows: the figures, and pages that name
no plate."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.cassandra.rows import audit_row
from connectors.cassandra.usage import CameraHour, HitCount
from pipelines.services.transparency import as_csv, as_html, report
from schemas.records import AuditAction, AuditEvent, AuditOutcome

AGENCY = "MN9990100"


class Usage:
    def camera_hours(self, agency_ori: str, first_day: str, last_day: str) -> list[CameraHour]:
        assert (agency_ori, first_day, last_day) == (AGENCY, "2026-11-01", "2026-11-03")
        return [CameraHour("2026-11-01", "hwy7-east", 8, 40), CameraHour("2026-11-01",
                "hwy7-east", 9, 2), CameraHour("2026-11-03", "main-st", 17, 5)]  # fmt: skip

    def hit_counts(self, agency_ori: str, first_day: str, last_day: str) -> list[HitCount]:
        return [HitCount("2026-11-01", "STOLEN_VEHICLE", "mn-stolen", 2),
                HitCount("2026-11-03", "CUSTOM", "case-26-1", 1)]  # fmt: skip


class Audit:
    def event_rows(self, day: str) -> list[Sequence[Any]]:
        if day != "2026-11-01":
            return []
        when = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)

        def event(action: AuditAction, target: str, recipient: str | None, agency: str = AGENCY,
                  outcome: AuditOutcome = AuditOutcome.SUCCESS) -> Sequence[Any]:  # fmt: skip
            return audit_row(AuditEvent(target, when, "svc:share", action, "hit", target,
                                        outcome, agency, None, recipient))  # fmt: skip

        return [
            event(AuditAction.DISSEMINATE, "h1", "MN9990200"),
            event(AuditAction.DISSEMINATE, "h2", "MN9990200"),
            event(AuditAction.DISSEMINATE, "h1", AGENCY),  # to itself: not shared
            event(AuditAction.DISSEMINATE, "h3", "MN9990300", agency="MN9990300"),  # another's
            event(AuditAction.DISSEMINATE, "h4", "MN9990300", outcome=AuditOutcome.FAILURE),
            event(AuditAction.HOTLIST_LOAD, "mn-stolen", None),
        ]


def test_the_report_adds_up_counters_and_sharing() -> None:
    found = report(Usage(), Audit(), AGENCY, "2026-11-01", "2026-11-03", 60)
    assert found.reads_by_day == {"2026-11-01": 42, "2026-11-02": 0, "2026-11-03": 5}
    assert (found.reads, found.hits, found.shared) == (47, 3, 2)
    assert [(c.camera_id, c.reads, c.hours_collecting) for c in found.cameras] == [
        ("hwy7-east", 42, 2), ("main-st", 5, 1)]  # fmt: skip
    assert found.hits_by_category == {"stolen vehicle": 2, "active investigation": 1}
    assert found.shared_with == {"MN9990200": 2}
    assert found.lists_with_hits == ["case-26-1", "mn-stolen"] and found.lists_loaded == [
        "mn-stolen"
    ]


def test_the_pages_carry_the_figures_in_plain_words() -> None:
    found = report(Usage(), Audit(), AGENCY, "2026-11-01", "2026-11-03", 60)
    page = as_html(found)
    assert "<strong>47</strong> plates" in page and "<svg" in page and "60" in page
    assert "http" not in page.replace('lang="en"', "")  # nothing fetched from anywhere
    rows = list(csv.reader(io.StringIO(as_csv(found))))
    assert ["total", "reads", "47"] in rows and ["shared_with", "MN9990200", "2"] in rows
    assert ["hits_by_category", "stolen vehicle", "2"] in rows
