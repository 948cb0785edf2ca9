"""Load a CSV hotlist into the compacted hotlist topic.

lprx's CSV layout (header row required, comma separated):

    plate,state,category,case_number,effective_at,expires_at[,any other column...]

``plate`` is required; ``state`` is a two-letter code or empty (any state);
``category`` one of HotlistCategory (empty: the list's default); ``case_number`` is
required for CUSTOM entries (Minnesota 13.824 subd. 2(c)); times are ISO-8601. Other
columns are kept as annotations shown with a hit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer

from pipelines.errors import InvalidRecord, TransientError
from pipelines.records import HotlistCategory, HotlistEntry
from pipelines.settings import Settings
from pipelines.stages.normalize import normalize_plate
from schemas import Codec

KNOWN_COLUMNS = {"plate", "state", "category", "case_number", "effective_at", "expires_at"}


@dataclass(frozen=True)
class HotlistSource:
    """What the operator says about a whole list when loading it."""

    list_id: str
    source: str
    owning_agency_ori: str
    default_category: HotlistCategory
    priority: int = 50
    covert: bool = False


@dataclass
class ParseReport:
    entries: list[HotlistEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def entry_plate(text: str) -> str:
    """A hotlist plate: like a read's, but wildcards (``*`` any run, ``?`` one
    character) are kept, as lists may hold partial plates."""
    upper = text.upper()
    if any(c in "*?" for c in upper):
        return "".join(c for c in upper if c.isascii() and (c.isalnum() or c in "*?"))
    return normalize_plate(upper)


def entry_id(list_id: str, state: str | None, plate: str) -> str:
    return f"{list_id}:{state or '*'}:{plate}"


def _time(value: str, row: int, column: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as error:
        raise InvalidRecord(f"row {row}: {column} {value!r} is not an ISO-8601 time") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_row(row: dict[str, str], line: int, source: HotlistSource) -> HotlistEntry:
    plate = entry_plate(row.get("plate") or "")
    if not plate:
        raise InvalidRecord(f"row {line}: no plate")
    state = (row.get("state") or "").strip().upper() or None
    if state is not None and not (len(state) == 2 and state.isalpha()):
        raise InvalidRecord(f"row {line}: state {state!r} is not a two-letter code")
    category_text = (row.get("category") or "").strip().upper()
    try:
        category = HotlistCategory(category_text) if category_text else source.default_category
    except ValueError as error:
        raise InvalidRecord(f"row {line}: unknown category {category_text!r}") from error
    case_number = (row.get("case_number") or "").strip() or None
    if category is HotlistCategory.CUSTOM and case_number is None:
        raise InvalidRecord(
            f"row {line}: a custom entry needs a case number (Minn. Stat. 13.824 subd. 2(c))"
        )
    return HotlistEntry(
        entry_id=entry_id(source.list_id, state, plate),
        list_id=source.list_id,
        source=source.source,
        category=category,
        owning_agency_ori=source.owning_agency_ori,
        plate=plate,
        priority=source.priority,
        covert=source.covert,
        plate_state=state,
        case_number=case_number,
        effective_at=_time(row.get("effective_at") or "", line, "effective_at"),
        expires_at=_time(row.get("expires_at") or "", line, "expires_at"),
        annotations={k: v for k, v in row.items() if k and k not in KNOWN_COLUMNS and v},
    )


def parse_csv(text: str, source: HotlistSource) -> ParseReport:
    """Every valid row becomes an entry; every bad row an error naming its line."""
    report = ParseReport()
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "plate" not in reader.fieldnames:
        report.errors.append("the header row must name a 'plate' column")
        return report
    for line, row in enumerate(reader, start=2):
        try:
            report.entries.append(parse_row(row, line, source))
        except InvalidRecord as error:
            report.errors.append(str(error))
    return report


def parse_csv_file(path: Path, source: HotlistSource) -> ParseReport:
    return parse_csv(path.read_text(encoding="utf-8-sig"), source)


def publish_entries(
    settings: Settings, producer: Producer, codec: Codec, entries: Iterable[HotlistEntry]
) -> int:
    """Upserts entries (keyed by entry_id) and waits until Kafka has them all."""
    failures: list[str] = []

    def on_delivery(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    count = 0
    topic = settings.topic("hotlist")
    for entry in entries:
        producer.produce(
            topic, key=entry.entry_id.encode(), value=entry.encode(codec), on_delivery=on_delivery
        )
        producer.poll(0)
        count += 1
    remaining = producer.flush(60)
    if failures or remaining:
        raise TransientError(
            f"{len(failures) + remaining} of {count} hotlist entries were not written: "
            f"{failures[:3]}"
        )
    return count


@dataclass(frozen=True)
class SnapshotReport:
    upserted: int
    unchanged: int
    retracted: int


def current_entries(settings: Settings, codec: Codec, list_id: str) -> dict[str, HotlistEntry]:
    """The live entries of one list, as the compacted topic holds them now."""
    from connectors.follower import CompactedTopicFollower

    entries: dict[str, HotlistEntry] = {}
    prefix = f"{list_id}:"

    def put(key: str, entry: HotlistEntry) -> None:
        if key.startswith(prefix):
            entries[key] = entry

    def retract(key: str) -> None:
        entries.pop(key, None)

    follower: CompactedTopicFollower[HotlistEntry] = CompactedTopicFollower(
        settings, settings.topic("hotlist"), lambda b: HotlistEntry.decode(codec, b), put, retract
    )
    follower.start()
    try:
        if not follower.wait_caught_up(120):
            raise TransientError("the hotlist topic could not be read to its end in time")
    finally:
        follower.stop()
    return entries


def publish_snapshot(
    settings: Settings,
    producer: Producer,
    codec: Codec,
    list_id: str,
    entries: Iterable[HotlistEntry],
) -> SnapshotReport:
    """Makes the list exactly ``entries``: new and changed entries are written first, and
    only then are entries absent from the snapshot retracted, so a matcher never sees a
    moment where an entry live in both the old and new list is missing."""
    wanted = {e.entry_id: e for e in entries if e.list_id == list_id}
    existing = current_entries(settings, codec, list_id)
    changed = [e for key, e in wanted.items() if existing.get(key) != e]
    publish_entries(settings, producer, codec, changed)
    gone = [key for key in existing if key not in wanted]
    topic = settings.topic("hotlist")
    for key in gone:
        # A tombstone: followers retract the entry, compaction forgets it.
        producer.produce(topic, key=key.encode(), value=None)
        producer.poll(0)
    if producer.flush(60):
        raise TransientError("Kafka did not take every retraction in time")
    return SnapshotReport(len(changed), len(wanted) - len(changed), len(gone))
