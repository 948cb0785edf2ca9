"""Hotlist files in lprx's CSV layout, parsed into entries (other layouts: formats.py).

lprx's CSV layout (header row required, comma separated):

    plate,state,category,case_number,effective_at,expires_at[,ncic_file][,any other...]

``plate`` is required; ``state`` is a two-letter code or empty (any state);
``category`` one of HotlistCategory (empty: the list's default); ``case_number`` is
required for CUSTOM entries and for every entry of an investigation's list (Minnesota
13.824 subd. 2(c); the load's case number if the row has none); ``ncic_file`` names an
NCIC extract's file per row (else the load's); times are ISO-8601. Other columns are
kept as annotations shown with a hit.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from schemas.errors import InvalidRecord
from schemas.hotlist_policy import HotlistSourceKind, ListPurpose, NcicFile
from schemas.plates import normalize_plate, wildcard_problem
from schemas.records import HotlistCategory, HotlistEntry
from schemas.validation import checked_time

KNOWN_COLUMNS = {
    "plate", "state", "category", "case_number", "effective_at", "expires_at", "ncic_file",
}  # fmt: skip


@dataclass(frozen=True)
class HotlistSource:
    """What the operator says about a whole list when loading it."""

    list_id: str
    source: str
    owning_agency_ori: str
    default_category: HotlistCategory
    priority: int = 50
    covert: bool = False
    kind: HotlistSourceKind | None = None
    ncic_file: NcicFile | None = None  # an NCIC extract of one file
    case_number: str | None = None  # an investigation's list
    purpose: ListPurpose | None = None


@dataclass(frozen=True)
class Declared:
    """What an entry carries of its load's declaration."""

    source_kind: str | None
    ncic_file: str | None
    case_number: str | None
    purpose: str | None


def declared(
    source: HotlistSource, line: int, *, ncic_file: str, case_number: str | None
) -> Declared:
    """The entry's source kind, NCIC file, case number and purpose, from the row and
    the load; raises InvalidRecord when the load's kind asks for what the row lacks."""
    ncic: NcicFile | None = source.ncic_file
    if ncic_file.strip():
        try:
            ncic = NcicFile(ncic_file.strip().lower())
        except ValueError:
            known = ", ".join(f.value for f in NcicFile)
            raise InvalidRecord(
                f"row {line}: unknown NCIC file {ncic_file.strip()!r} (known: {known})"
            ) from None
    case = case_number or source.case_number
    if source.kind is HotlistSourceKind.NCIC and ncic is None:
        raise InvalidRecord(f"row {line}: an NCIC extract's entry names its NCIC file")
    if source.kind is HotlistSourceKind.INVESTIGATION and case is None:
        raise InvalidRecord(
            f"row {line}: an investigation's entry needs a case number (13.824 subd. 2(c))"
        )
    return Declared(
        source_kind=source.kind.value if source.kind else None,
        ncic_file=ncic.value if ncic else None,
        case_number=case,
        purpose=source.purpose.value if source.purpose else None,
    )


@dataclass
class ParseReport:
    entries: list[HotlistEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def entry_plate(text: str) -> str:
    """A hotlist plate: like a read's, but wildcards (``*`` any run, ``?`` one
    character) are kept, as lists may hold partial plates; a wildcard plate that names
    too little of a plate (``*``, ``????``) is refused (InvalidRecord)."""
    upper = text.upper()
    if any(c in "*?" for c in upper):
        plate = "".join(c for c in upper if c.isascii() and (c.isalnum() or c in "*?"))
        problem = wildcard_problem(plate)
        if problem is not None:
            raise InvalidRecord(problem)
        return plate
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
    try:
        return checked_time(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC), column)
    except InvalidRecord as error:
        raise InvalidRecord(f"row {row}: {error}") from None


def parse_row(row: dict[str, str], line: int, source: HotlistSource) -> HotlistEntry:
    try:
        plate = entry_plate(row.get("plate") or "")
    except InvalidRecord as error:
        raise InvalidRecord(f"row {line}: {error}") from None
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
    fields = declared(source, line, ncic_file=row.get("ncic_file") or "",
                      case_number=(row.get("case_number") or "").strip() or None)  # fmt: skip
    if category is HotlistCategory.CUSTOM and fields.case_number is None:
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
        effective_at=_time(row.get("effective_at") or "", line, "effective_at"),
        expires_at=_time(row.get("expires_at") or "", line, "expires_at"),
        annotations={k: v for k, v in row.items() if k and k not in KNOWN_COLUMNS and v},
        case_number=fields.case_number,
        source_kind=fields.source_kind,
        ncic_file=fields.ncic_file,
        purpose=fields.purpose,
    )


def parse_csv(text: str, source: HotlistSource) -> ParseReport:
    """Every valid row becomes an entry; every bad row an error naming its line."""
    report = ParseReport()
    # Universal newlines: a lone CR (old spreadsheets) ends a row instead of breaking csv.
    reader = csv.DictReader(io.StringIO(text, newline=None))
    try:
        if reader.fieldnames is None or "plate" not in reader.fieldnames:
            report.errors.append("the header row must name a 'plate' column")
            return report
        for line, row in enumerate(reader, start=2):
            try:
                report.entries.append(parse_row(row, line, source))
            except InvalidRecord as error:
                report.errors.append(str(error))
    except csv.Error as error:
        # The rest of the file cannot be split into rows: say where, keep what loaded.
        report.errors.append(
            f"row {reader.line_num}: not readable as CSV ({error}); rows after it skipped"
        )
    return report


def parse_csv_file(path: Path, source: HotlistSource) -> ParseReport:
    return parse_csv(path.read_text(encoding="utf-8-sig"), source)
