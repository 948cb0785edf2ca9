"""Genetec-style and NCIC-style hotlist files: entries, annotations, and bad lines."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.hotlist.files import HotlistSource, parse_csv
from connectors.hotlist.formats import parse_genetec, parse_ncic
from schemas.records import HotlistCategory

SOURCE = HotlistSource("mn-bca", "MN BCA", "MN9990001", HotlistCategory.STOLEN_VEHICLE, 80)


def test_genetec_without_header_semicolons() -> None:
    report = parse_genetec(
        "Stolen Vehicle;MN;ABC-123;2026-01-01;2027-01-01;red Civic\n"
        "Amber Alert;;XYZ 999;;;\n"
        "Stolen Plate;WI;PL8 1;01/15/2026;;\n",
        SOURCE,
    )
    assert report.errors == []
    a, b, c = report.entries
    assert (a.plate, a.plate_state, a.category) == ("ABC123", "MN", HotlistCategory.STOLEN_VEHICLE)
    assert a.effective_at == datetime(2026, 1, 1, tzinfo=UTC) and a.annotations == {
        "field6": "red Civic"
    }
    assert (b.plate_state, b.category) == (None, HotlistCategory.AMBER_ALERT)
    assert (c.category, c.effective_at) == (
        HotlistCategory.STOLEN_PLATE,
        datetime(2026, 1, 15, tzinfo=UTC),
    )
    assert a.priority == 80 and a.source == "MN BCA"


def test_genetec_with_header_tabs_annotations_and_wildcards() -> None:
    report = parse_genetec(
        "Category\tPlateState\tPlateNumber\tEffectiveDate\tExpiryDate\tVehicle\tOfficer safety\n"
        "Wanted\tMN\tGRS118\t\t\tblue van\tarmed\n"
        "Stolen\tMN\tAB*12?\t\t\t\t\n",
        SOURCE,
    )
    assert report.errors == []
    wanted, partial = report.entries
    assert wanted.category is HotlistCategory.WANTED_PERSON
    assert wanted.annotations == {"Vehicle": "blue van", "Officer safety": "armed"}
    assert partial.plate == "AB*12?"


def test_genetec_bad_lines_are_reported_and_the_rest_load() -> None:
    report = parse_genetec(
        "Stolen;MN;;;\nStolen;Minnesota;ABC123;;\nStolen;MN;ABC124;yesterday;\nStolen;MN;OK1234;;\n",
        SOURCE,
    )
    assert [e.plate for e in report.entries] == ["OK1234"]
    assert [e.split(":")[0] for e in report.errors] == ["line 1", "line 2", "line 3"]


NCIC = (
    "# NCIC extract, lprx layout\n"
    "ABC123    MN2019PCV123456789MN0270000SV20270101stolen 2026-11-01\n"
    "7XYZ99    WI    PCV987654321WI0400000AA\n"
    "SHORT     MN\n"
    "QQQ111    MN2019PCV111111111MN0270000ZZ\n"
)


def test_ncic_fixed_width() -> None:
    report = parse_ncic(NCIC, SOURCE)
    first, second = report.entries
    assert (first.plate, first.plate_state, first.category) == (
        "ABC123",
        "MN",
        HotlistCategory.STOLEN_VEHICLE,
    )
    assert first.expires_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert first.annotations == {
        "LIY": "2019",
        "LIT": "PC",
        "NIC": "V123456789",
        "ORI": "MN0270000",
        "remarks": "stolen 2026-11-01",
    }
    assert (second.plate, second.category, second.expires_at) == (
        "7XYZ99",
        HotlistCategory.AMBER_ALERT,
        None,
    )
    assert report.errors == [
        "line 4: 12 characters, need 39 or more",
        "line 5: unknown category code 'ZZ'",
    ]


def test_lprx_csv_keeps_wildcards() -> None:
    report = parse_csv("plate,state\nAB*1?3,MN\n", SOURCE)
    assert report.entries[0].plate == "AB*1?3"
