"""Hotlist layouts other than lprx's CSV: Genetec-style delimited and NCIC-style fixed width.

**Genetec-style delimited** (as AutoVu imports): one entry per line, fields
``Category; PlateState; PlateNumber; EffectiveDate; ExpiryDate`` and any extra fields,
which become annotations shown with a hit. The delimiter is ``;``, ``,``, tab or ``:``
(found from the first line). A first line naming ``PlateNumber`` is a header, and then
extra fields are annotated by their header names (a ``NcicFile`` column names an NCIC
extract's file per entry). Dates are ``YYYY-MM-DD``, ISO-8601 or
``MM/DD/YYYY``. The category is free text mapped by keyword (stolen/plate, stolen/vehicle,
wanted, missing, amber, protection); anything else takes the list's default category.

**NCIC-style fixed width** (the layout lprx accepts; 1-based columns):

    LIC  plate number         1-10   left-aligned, blank padded
    LIS  plate state         11-12
    LIY  plate year          13-16   may be blank
    LIT  plate type          17-18   may be blank
    NIC  NCIC number         19-28
    ORI  entering agency     29-37
    CAT  category code       38-39   SV stolen vehicle, SP stolen plate, WP wanted
                                     person, MP missing person, AA Amber alert,
                                     PO protection order, IV immigration violator
    EXP  expiry YYYYMMDD     40-47   may be blank
    remarks                  48-     optional, kept as an annotation

LIY, LIT, NIC and ORI are kept as annotations. The category code also names the entry's
NCIC file (IV: the immigration violator file, category WANTED_PERSON), unless the load
names one file for all. Blank lines and lines starting with ``#``
are skipped. Every bad line is reported with its number; the others load.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from connectors.hotlist.files import (
    HotlistSource,
    ParseReport,
    declared,
    entry_id,
    entry_plate,
)
from schemas.errors import InvalidRecord
from schemas.hotlist_policy import NcicFile
from schemas.records import HotlistCategory, HotlistEntry
from schemas.validation import checked_time

GENETEC_FIELDS = ("Category", "PlateState", "PlateNumber", "EffectiveDate", "ExpiryDate")
DELIMITERS = ";,\t:"
NCIC_CATEGORIES = {
    "SV": HotlistCategory.STOLEN_VEHICLE,
    "SP": HotlistCategory.STOLEN_PLATE,
    "WP": HotlistCategory.WANTED_PERSON,
    "MP": HotlistCategory.MISSING_PERSON,
    "AA": HotlistCategory.AMBER_ALERT,
    "PO": HotlistCategory.PROTECTION_ORDER,
    "IV": HotlistCategory.WANTED_PERSON,
}
NCIC_CODE_FILES = {
    "SV": NcicFile.VEHICLE,
    "SP": NcicFile.LICENSE_PLATE,
    "WP": NcicFile.WANTED_PERSON,
    "MP": NcicFile.MISSING_PERSON,
    "AA": NcicFile.MISSING_PERSON,
    "PO": NcicFile.PROTECTION_ORDER,
    "IV": NcicFile.IMMIGRATION_VIOLATOR,
}
_KEYWORDS = (
    ("AMBER", HotlistCategory.AMBER_ALERT),
    ("MISSING", HotlistCategory.MISSING_PERSON),
    ("PROTECTION", HotlistCategory.PROTECTION_ORDER),
    ("WANTED", HotlistCategory.WANTED_PERSON),
    ("WARRANT", HotlistCategory.WANTED_PERSON),
    ("PLATE", HotlistCategory.STOLEN_PLATE),
    ("STOLEN", HotlistCategory.STOLEN_VEHICLE),
)
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d")


def _date(value: str, line: int, field: str) -> datetime | None:
    text = value.strip()
    if not text:
        return None
    for layout in _DATE_FORMATS:
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidRecord(f"line {line}: {field} {text!r} is not a date") from error
    try:
        return checked_time(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC), field)
    except InvalidRecord as error:
        raise InvalidRecord(f"line {line}: {error}") from None


def _state(value: str, line: int) -> str | None:
    state = value.strip().upper() or None
    if state is not None and not (len(state) == 2 and state.isalpha()):
        raise InvalidRecord(f"line {line}: state {state!r} is not a two-letter code")
    return state


def _category(text: str, default: HotlistCategory) -> HotlistCategory:
    upper = text.upper()
    for keyword, category in _KEYWORDS:
        if keyword in upper:
            return category
    return default


def _entry(
    source: HotlistSource,
    line: int,
    *,
    plate_text: str,
    state: str | None,
    category: HotlistCategory,
    effective: datetime | None,
    expires: datetime | None,
    annotations: dict[str, str],
    ncic_file: str = "",
) -> HotlistEntry:
    try:
        plate = entry_plate(plate_text)
    except InvalidRecord as error:
        raise InvalidRecord(f"line {line}: {error}") from None
    if not plate:
        raise InvalidRecord(f"line {line}: no plate number")
    fields = declared(source, line, ncic_file=ncic_file,
                      case_number=annotations.get("case_number"))  # fmt: skip
    if category is HotlistCategory.CUSTOM and fields.case_number is None:
        raise InvalidRecord(
            f"line {line}: a custom entry needs a case number (Minn. Stat. 13.824 subd. 2(c))"
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
        case_number=fields.case_number,
        effective_at=effective,
        expires_at=expires,
        annotations=annotations,
        source_kind=fields.source_kind,
        ncic_file=fields.ncic_file,
        purpose=fields.purpose,
    )


def parse_genetec(text: str, source: HotlistSource) -> ParseReport:
    report = ParseReport()
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return report
    delimiter = max(DELIMITERS, key=lines[0].count)
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines), newline=None), delimiter=delimiter))
    except csv.Error as error:
        report.errors.append(f"not readable as delimited text ({error}); nothing loaded")
        return report
    header: list[str] | None = None
    if any(cell.strip().lower() == "platenumber" for cell in rows[0]):
        header = [cell.strip() for cell in rows[0]]
        rows = rows[1:]
    first_line = 2 if header else 1
    for line, row in enumerate(rows, start=first_line):
        try:
            cells = [cell.strip() for cell in row] + [""] * (5 - len(row))
            names = header or [*GENETEC_FIELDS, *(f"field{i}" for i in range(6, len(row) + 1))]
            values = dict(zip(names, cells, strict=False))
            extras = {name: value for name, value in values.items()
                      if name not in (*GENETEC_FIELDS, "NcicFile") and value}  # fmt: skip
            report.entries.append(
                _entry(
                    source,
                    line,
                    plate_text=values.get("PlateNumber", ""),
                    state=_state(values.get("PlateState", ""), line),
                    category=_category(values.get("Category", ""), source.default_category),
                    effective=_date(values.get("EffectiveDate", ""), line, "EffectiveDate"),
                    expires=_date(values.get("ExpiryDate", ""), line, "ExpiryDate"),
                    annotations=extras,
                    ncic_file=values.get("NcicFile", ""),
                )
            )
        except InvalidRecord as error:
            report.errors.append(str(error))
    return report


def parse_ncic(text: str, source: HotlistSource) -> ParseReport:
    report = ParseReport()
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        try:
            if len(raw.rstrip()) < 39:
                raise InvalidRecord(f"line {line}: {len(raw.rstrip())} characters, need 39 or more")
            code = raw[37:39].strip().upper()
            if code not in NCIC_CATEGORIES:
                raise InvalidRecord(f"line {line}: unknown category code {code!r}")
            annotations = {
                name: value
                for name, value in (
                    ("LIY", raw[12:16].strip()),
                    ("LIT", raw[16:18].strip()),
                    ("NIC", raw[18:28].strip()),
                    ("ORI", raw[28:37].strip()),
                    ("remarks", raw[47:].strip()),
                )
                if value
            }
            report.entries.append(
                _entry(
                    source,
                    line,
                    plate_text=raw[0:10],
                    state=_state(raw[10:12], line),
                    category=NCIC_CATEGORIES[code],
                    effective=None,
                    expires=_date(raw[39:47], line, "EXP"),
                    annotations=annotations,
                    ncic_file="" if source.ncic_file else NCIC_CODE_FILES[code].value,
                )
            )
        except InvalidRecord as error:
            report.errors.append(str(error))
    return report
