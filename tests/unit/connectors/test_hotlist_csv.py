"""lprx's CSV hotlist layout: what each row becomes, and what each bad row does."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.hotlist.files import HotlistSource, parse_csv
from schemas.records import HotlistCategory

SOURCE = HotlistSource("mn-stolen", "NCIC", "MN9990001", HotlistCategory.STOLEN_VEHICLE, 70, False)


def test_rows_become_entries_with_list_defaults_and_annotations() -> None:
    report = parse_csv(
        "plate,state,category,case_number,effective_at,expires_at,vehicle\n"
        "abc-123,mn,,,2026-01-01T00:00:00,,red Civic\n"
        "XYZ999,,AMBER_ALERT,,,2026-12-31T00:00:00+00:00,\n",
        SOURCE,
    )
    assert report.errors == []
    first, second = report.entries
    assert (first.plate, first.plate_state, first.category) == (
        "ABC123",
        "MN",
        SOURCE.default_category,
    )
    assert first.entry_id == "mn-stolen:MN:ABC123"
    assert first.priority == 70 and first.annotations == {"vehicle": "red Civic"}
    assert first.effective_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert second.plate_state is None and second.entry_id == "mn-stolen:*:XYZ999"
    assert second.category is HotlistCategory.AMBER_ALERT


def test_each_bad_row_is_refused_with_its_line_and_the_rest_load() -> None:
    report = parse_csv(
        "plate,state,category,case_number,effective_at\n"
        ",MN,,,\n"
        "ABC123,Minnesota,,,\n"
        "ABC124,MN,STOLEN_BIKE,,\n"
        "ABC125,MN,CUSTOM,,\n"
        "ABC126,MN,,,yesterday\n"
        "ABC127,MN,CUSTOM,26-000123,\n",
        SOURCE,
    )
    assert [e.plate for e in report.entries] == ["ABC127"]
    assert len(report.errors) == 5
    for line, words in zip(range(2, 7), ["no plate", "two-letter", "unknown category",
                                         "case number", "ISO-8601"], strict=True):  # fmt: skip
        assert (
            report.errors[line - 2].startswith(f"row {line}:") and words in report.errors[line - 2]
        )


def test_a_file_without_a_plate_column_is_refused() -> None:
    report = parse_csv("number,state\nABC123,MN\n", SOURCE)
    assert report.entries == [] and "plate" in report.errors[0]
