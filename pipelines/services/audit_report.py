"""The biennial audit's export (Minnesota Statutes 13.824 subd. 6) for one agency and
period, from what lprx records, and nothing it cannot truthfully state:

- **collection, classification and destruction**, per UTC day: the reads the store kept
  (its usage counters, ``connectors/cassandra/usage.py``), their classification, the day
  the retention in force destroys them (TTL from collection) and whether that day has
  passed, and how many of them a hold keeps now;
- **every access** to data by a person of the agency (and a partner's search of its
  reads), from the audit trail: who, when, outcome, purpose, case number, factual basis,
  what was asked and how many results;
- **the sharing log**: every dissemination of the agency's hits to another agency;
- **agreement changes** of the agency, as owner or partner;
- **flags** for the auditor to look at: a search without a case number (or with a
  placeholder), one person searching one plate ``repeat_threshold`` times or more,
  access outside working hours, and each agreement change.

``build`` makes it; ``as_rows`` gives each section as flat rows (the JSON the API
answers, and the CSV files ``lprx audit report`` writes).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from connectors.cassandra.rows import AUDIT_COLUMNS
from pipelines.services.audit_chain import days
from pipelines.services.transparency import AuditSource, UsageSource
from schemas.holds import Hold, HoldStatus
from schemas.records import AuditAction, Classification, utcnow

# Accesses that must carry a case number (13.824 subd. 7): searches of reads and crops.
JUSTIFIED_KINDS = frozenset({"reads", "crop"})
# What people write when they have no case number to give.
PLACEHOLDER_CASES = frozenset({
    "", "NA", "N/A", "NONE", "NIL", "NULL", "TBD", "UNK", "UNKNOWN", "TEST", "INVESTIGATION",
    "CASE", "XXX", "-",
})  # fmt: skip
# Actors that are not people: services, cameras, the operating system's users.
MACHINE_PREFIXES = ("svc:", "camera:", "os:", "system")
GONE_OFF_DISK = (
    "A read is destroyed by its TTL at collection + retention: Cassandra returns it no more "
    "from that moment, and its cells leave the disk at compaction within about 16 hours "
    "(connectors/cassandra/retention.py, measured by its integration test)."
)
NOTES = (
    GONE_OFF_DISK,
    "Reads kept counts what the store kept, by the day each was collected; a read refused "
    "because it arrived past its destruction date is destroyed on arrival and counted only "
    'in the metrics (lprx_records_total{outcome="expired"}). Counters may run over by the '
    "store batches in flight at a worker crash (LPRX_STORE_BATCHES_IN_FLIGHT), by a batch "
    "retried after a store timeout, and under during a store outage "
    "(connectors/cassandra/usage.py).",
    "Every read is classified NONPUBLIC when collected (13.824 subd. 2(b)); a read under an "
    "investigative or exculpatory hold is kept as active criminal investigative data until "
    "the hold is released.",
    "Accesses: each search is one row (its opening event); the trail also holds the ids "
    "each returned, shown by `lprx audit show`.",
)


class HeldSource(Protocol):
    def holds(self) -> list[Hold]: ...
    def held_reads(self, hold_id: str) -> Sequence[Any]: ...


@dataclass(frozen=True)
class ReportRules:
    repeat_threshold: int = 5  # searches of one plate by one person in the period
    work_start_hour: int = 7  # local time; an access before it or from work_end is flagged
    work_end_hour: int = 19
    timezone: str = "America/Chicago"

    def working(self, when: datetime) -> bool:
        hour = when.astimezone(ZoneInfo(self.timezone)).hour
        start, end = self.work_start_hour, self.work_end_hour
        return start <= hour < end if start <= end else hour >= start or hour < end


@dataclass
class AuditReport:
    agency_ori: str
    from_day: str
    to_day: str
    generated_at: str
    generated_by: str
    retention_days: int
    rules: ReportRules
    days: list[dict[str, Any]] = field(default_factory=list)
    accesses: list[dict[str, Any]] = field(default_factory=list)
    sharing: list[dict[str, Any]] = field(default_factory=list)
    agreement_changes: list[dict[str, Any]] = field(default_factory=list)
    flags: list[dict[str, Any]] = field(default_factory=list)
    notes: tuple[str, ...] = NOTES


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _event(row: Sequence[Any]) -> dict[str, Any]:
    event = dict(zip(AUDIT_COLUMNS, row, strict=True))
    event["occurred_at"] = _aware(event["occurred_at"])
    event["details"] = dict(event["details"] or {})
    return event


def _is_person(actor: str) -> bool:
    return not actor.startswith(MACHINE_PREFIXES)


def _searches_agency(event: dict[str, Any], agency: str) -> bool:
    """A partner's search that names the agency's reads (its query or its sources)."""
    details = event["details"]
    return agency in details.get("from_agencies", "").split(",") or (
        agency in details.get("query", "") and event["target_kind"] in JUSTIFIED_KINDS
    )


def _access_row(e: dict[str, Any]) -> dict[str, Any]:
    d = e["details"]
    return {
        "occurred_at": e["occurred_at"].isoformat(), "event_id": e["event_id"],
        "actor": e["actor"], "actor_agency_ori": e["actor_agency_ori"], "action": e["action"],
        "outcome": e["outcome"], "purpose": e["purpose"] or "",
        "case_number": d.get("case_number", ""), "factual_basis": d.get("factual_basis", ""),
        "target_kind": e["target_kind"], "target_id": e["target_id"],
        "query": d.get("query", ""), "reason_refused": d.get("reason", ""),
    }  # fmt: skip


def _no_case(case_number: str) -> bool:
    folded = "".join(case_number.split()).upper()
    return folded in PLACEHOLDER_CASES or set(folded) <= set("0-/")


def _flag(kind: str, e: dict[str, Any], detail: str) -> dict[str, Any]:
    return {"flag": kind, "occurred_at": e["occurred_at"].isoformat(), "actor": e["actor"],
            "event_id": e["event_id"], "detail": detail}  # fmt: skip


def _searched_plate(e: dict[str, Any]) -> str | None:
    plate = str(e["target_id"]).removeprefix("plate=")
    if e["target_kind"] != "reads" or not str(e["target_id"]).startswith("plate="):
        return None
    return None if plate == "*" or set(plate) & set("*?") else plate


def _flags(accesses: list[dict[str, Any]], rules: ReportRules) -> list[dict[str, Any]]:
    flags = []
    repeats: defaultdict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in accesses:
        success = e["outcome"] == "SUCCESS"
        if (
            success
            and e["target_kind"] in JUSTIFIED_KINDS
            and _no_case(e["details"].get("case_number", ""))
        ):
            given = e["details"].get("case_number", "")
            flags.append(_flag("search_without_case_number", e,
                               f"{e['target_id']}: case number {given!r}"))  # fmt: skip
        if _is_person(e["actor"]) and not rules.working(e["occurred_at"]):
            local = e["occurred_at"].astimezone(ZoneInfo(rules.timezone))
            flags.append(_flag("outside_working_hours", e, f"{e['action']} {e['target_id']} at "
                               f"{local:%Y-%m-%d %H:%M} {rules.timezone}"))  # fmt: skip
        plate = _searched_plate(e)
        if success and plate is not None:
            repeats[(e["actor"], plate)].append(e)
    for (actor, plate), searches in sorted(repeats.items()):
        if len(searches) >= rules.repeat_threshold:
            cases = sorted({s["details"].get("case_number", "") for s in searches})
            detail = (f"{actor} searched {plate} {len(searches)} times (threshold "
                      f"{rules.repeat_threshold}); case numbers: {', '.join(cases)}")  # fmt: skip
            flags.append(_flag("repeated_plate_searches", searches[0], detail))
    return flags


def _days_after(day: date, count: int) -> date:
    try:
        return day + timedelta(days=count)
    except OverflowError:  # a period asked for at the end of the calendar
        return date.max


def _collection_days(
    usage: UsageSource, held: HeldSource | None, agency: str, period: list[str],
    retention_days: int, now: datetime,
) -> list[dict[str, Any]]:  # fmt: skip
    kept: Counter[str] = Counter()
    for hour in usage.camera_hours(agency, period[0], period[-1]):
        kept[hour.day] += hour.reads
    held_ids: defaultdict[str, set[str]] = defaultdict(set)
    for hold in held.holds() if held is not None else []:
        if hold.agency_ori == agency and hold.status is HoldStatus.ACTIVE:
            for read in held.held_reads(hold.hold_id) if held is not None else []:
                held_ids[f"{_aware(read.collected_at):%Y-%m-%d}"].add(read.read_id)
    rows = []
    for day in period:
        destroyed_on = _days_after(date.fromisoformat(day), retention_days)
        passed = datetime.combine(_days_after(destroyed_on, 1), datetime.min.time(), UTC) <= now
        rows.append({
            "day": day, "reads_kept": kept[day], "classification": Classification.NONPUBLIC.value,
            "retention_days": retention_days, "destroyed_on": destroyed_on.isoformat(),
            "destruction": "done (TTL)" if passed else "scheduled (TTL)",
            "kept_by_holds_now": len(held_ids[day]),
        })  # fmt: skip
    return rows


def build(
    audit: AuditSource,
    usage: UsageSource,
    held: HeldSource | None,
    agency: str,
    from_day: str,
    to_day: str,
    retention_days: int,
    rules: ReportRules,
    generated_by: str,
    now: datetime | None = None,
) -> AuditReport:
    """The export for the UTC days ``from_day``..``to_day``."""
    now = now or utcnow()
    period = days(from_day, to_day)
    report = AuditReport(agency, from_day, to_day, now.isoformat(), generated_by,
                         retention_days, rules)  # fmt: skip
    report.days = _collection_days(usage, held, agency, period, retention_days, now)
    accesses: list[dict[str, Any]] = []
    for day in period:
        for e in sorted(map(_event, audit.event_rows(day)), key=lambda e: e["occurred_at"]):
            action = e["action"]
            own = e["actor_agency_ori"] == agency
            if action in (AuditAction.SEARCH.value, AuditAction.ACCESS_DENIED.value) and (
                own or _searches_agency(e, agency)
            ):
                if "results" not in e["details"]:  # the search itself, not the ids it showed
                    accesses.append(e)
            elif action == AuditAction.DISSEMINATE.value and own and e["outcome"] == "SUCCESS":
                d = e["details"]
                report.sharing.append({
                    "occurred_at": e["occurred_at"].isoformat(), "event_id": e["event_id"],
                    "recipient_agency_ori": e["recipient_agency_ori"] or "",
                    "what": f"{e['target_kind']} {e['target_id']}",
                    "category": d.get("plate_category", ""),
                    "agreement_id": d.get("agreement_id", ""), "by": e["actor"],
                })  # fmt: skip
            elif action == AuditAction.AGREEMENT_CHANGE.value and (
                own or agency in (e["recipient_agency_ori"] or "", *str(e["target_id"]).split("->"))
            ):
                change = {"occurred_at": e["occurred_at"].isoformat(), "event_id": e["event_id"],
                          "actor": e["actor"], "actor_agency_ori": e["actor_agency_ori"] or "",
                          "agreement": e["target_id"], "outcome": e["outcome"],
                          "details": json.dumps(e["details"], sort_keys=True)}  # fmt: skip
                report.agreement_changes.append(change)
                report.flags.append(_flag("agreement_changed", e,
                                          f"{e['target_id']} by {e['actor']}"))  # fmt: skip
    report.accesses = [_access_row(e) for e in accesses]
    report.flags = _flags(accesses, rules) + report.flags
    return report


def as_rows(report: AuditReport) -> dict[str, Any]:
    """The report as JSON: a summary, then each section as a list of flat rows."""
    counts = Counter(f["flag"] for f in report.flags)
    summary = {
        "agency_ori": report.agency_ori, "from_day": report.from_day, "to_day": report.to_day,
        "generated_at": report.generated_at, "generated_by": report.generated_by,
        "retention_days": report.retention_days, **asdict(report.rules),
        "reads_kept": sum(d["reads_kept"] for d in report.days),
        "accesses": len(report.accesses), "disseminations": len(report.sharing),
        "agreement_changes": len(report.agreement_changes), "flags": len(report.flags),
        **{f"flags_{kind}": n for kind, n in sorted(counts.items())},
    }  # fmt: skip
    return {"summary": summary, "collection_and_destruction": report.days,
            "accesses": report.accesses, "sharing": report.sharing,
            "agreement_changes": report.agreement_changes, "flags": report.flags,
            "notes": list(report.notes)}  # fmt: skip


def csv_files(rows: dict[str, Any]) -> dict[str, str]:
    """Each section of ``as_rows`` as the text of one CSV file (name -> text)."""
    import csv
    import io

    def table(records: Iterable[dict[str, Any]], header: list[str]) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, header)
        writer.writeheader()
        writer.writerows(records)
        return out.getvalue()

    files = {"summary.csv": table([{"key": k, "value": v} for k, v in rows["summary"].items()],
                                  ["key", "value"]),
             "notes.csv": table([{"note": n} for n in rows["notes"]], ["note"])}  # fmt: skip
    for name in ("collection_and_destruction", "accesses", "sharing", "agreement_changes",
                 "flags"):  # fmt: skip
        records = rows[name]
        header = list(records[0]) if records else ["none"]
        files[f"{name}.csv"] = table(records, header)
    return files
