"""Rules of the records themselves (schemas/plates.py, schemas/validation.py) and what
the hotlist parsers and the ingest do with input that breaks them."""

from __future__ import annotations

import fnmatch
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from connectors.hotlist.files import HotlistSource, parse_csv
from connectors.hotlist.formats import parse_genetec
from connectors.ingest.app import create_ingest_app
from connectors.kafka.sink import MemorySink
from schemas.errors import InvalidRecord
from schemas.plates import WildcardPattern, wildcard_problem
from schemas.records import HotlistCategory
from schemas.validation import checked_time
from tests.unit.connectors.test_ingest import AUTH, SETTINGS, plain

SOURCE = HotlistSource("l1", "test", "MN9990001", HotlistCategory.STOLEN_VEHICLE, 50, False)


@pytest.mark.parametrize("pattern", ["*", "**", "????", "A?", "*A*", "AB*", "A*B*C*D"])
def test_wildcards_that_name_too_little_or_are_unbounded_are_refused(pattern: str) -> None:
    assert wildcard_problem(pattern) is not None


@pytest.mark.parametrize("pattern", ["ABC*", "A?C12?", "*123", "AB*1*", "7?K?4?1"])
def test_wildcards_that_name_a_car_are_accepted(pattern: str) -> None:
    assert wildcard_problem(pattern) is None


@given(pattern=st.text("AB1*?", min_size=1, max_size=12), plate=st.text("AB1", max_size=10))
def test_wildcard_pattern_means_what_fnmatch_means(pattern: str, plate: str) -> None:
    assert WildcardPattern(pattern).fullmatch(plate) == fnmatch.fnmatchcase(plate, pattern)


def test_wildcard_matching_time_does_not_depend_on_the_pattern() -> None:
    # A regular expression backtracks on a pattern like this; the table walk does not.
    hostile, plain_pattern, plate = "*A*A*A*A*A*A*A*A*B", "ABC123", "A" * 10
    start = time.perf_counter()
    for _ in range(1000):
        WildcardPattern(hostile).fullmatch(plate)
    hostile_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(1000):
        WildcardPattern(plain_pattern).fullmatch(plate)
    assert hostile_s < 0.5  # 1,000 matches; the regex took about 0.7 s for one
    assert time.perf_counter() - start < 0.5


def test_hotlist_rows_with_bad_wildcards_are_reported_and_the_others_load() -> None:
    report = parse_csv("plate\n*\n????\nABC*\nXYZ123\n", SOURCE)
    assert [e.plate for e in report.entries] == ["ABC*", "XYZ123"]
    assert [e.split(":")[0] for e in report.errors] == ["row 2", "row 3"]


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1850-01-01T00:00:00Z"]
)
def test_times_a_record_cannot_carry_are_refused(value: str) -> None:
    with pytest.raises(InvalidRecord, match="outside the years"):
        checked_time(datetime.fromisoformat(value), "expires_at")


def test_a_time_without_zone_is_refused_and_a_good_one_is_utc() -> None:
    with pytest.raises(InvalidRecord, match="no time zone"):
        checked_time(datetime(2026, 1, 1), "at")
    cst = timezone(timedelta(hours=-6))
    assert checked_time(datetime(2026, 1, 1, tzinfo=cst), "at") == datetime(
        2026, 1, 1, 6, tzinfo=UTC
    )


def test_hotlist_times_out_of_range_are_reported_per_row() -> None:
    csv_report = parse_csv(
        "plate,expires_at\nABC123,9999-12-31T23:59:59-14:00\nXYZ123,2030-01-01T00:00:00Z\n",
        SOURCE,
    )
    assert [e.plate for e in csv_report.entries] == ["XYZ123"]
    assert csv_report.errors and csv_report.errors[0].startswith("row 2:")
    genetec = parse_genetec(
        "Category;PlateState;PlateNumber;EffectiveDate;ExpiryDate\n"
        "Stolen;MN;ABC123;2026-01-01;9999-12-31T23:59:59-14:00\n",
        SOURCE,
    )
    assert genetec.entries == [] and "outside the years" in genetec.errors[0]


@pytest.mark.parametrize("collected_at", ["9999-12-31T23:59:59-14:00", "9999-11-02T00:00:00Z"])
def test_a_camera_read_with_a_time_out_of_range_gets_422_not_500(collected_at: str) -> None:
    """The second is a year-9999 time whose destruction date (+ retention) is past the
    last time there is (found by ``make fuzz``)."""
    sink = MemorySink()
    with TestClient(create_ingest_app(SETTINGS, sink)) as client:
        response = client.post("/v1/reads", json=plain(collected_at=collected_at), headers=AUTH)
    assert response.status_code == 422
    # Refused with the original bytes kept as a dead letter, as every bad read is.
    assert sink.reads == []
    assert [d.stage for d in sink.dead_letters] == ["ingest"]


def test_a_hit_id_is_the_same_each_time_a_read_is_matched_to_an_entry() -> None:
    from pipelines.stages.match import HotlistIndex, historical_hits, match_read
    from tests.factories import NOW, a_read, an_entry

    read, entry = a_read(plate="ABC123"), an_entry(plate="ABC123")
    first = match_read(read, HotlistIndex([entry]), NOW)
    again = match_read(read, HotlistIndex([entry]), NOW + timedelta(minutes=1))
    assert first is not None and again is not None
    assert first.hit_id == again.hit_id
    other_read = match_read(a_read(plate="ABC123"), HotlistIndex([entry]), NOW)
    assert other_read is not None and other_read.hit_id != first.hit_id
    other_entry = an_entry(entry_id="other:MN:ABC123", plate="ABC123")
    (historical,) = historical_hits(other_entry, [read], NOW)
    assert historical.hit_id not in {first.hit_id, other_read.hit_id}
