"""The Cassandra store's row mappers and error mapping, without a server.

A row "as stored" is what the driver hands back for a written row: naive UTC datetimes,
a map's keys in their sorted order, a list for a list column, and no TTL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cassandra import (
    InvalidRequest,
    OperationTimedOut,
    ReadTimeout,
    Unavailable,
    WriteTimeout,
    WriteType,
)
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionShutdown
from cassandra.protocol import ServerError, SyntaxException
from hypothesis import given
from hypothesis import strategies as st

from connectors.cassandra import StoreRejected, map_exceptions
from connectors.cassandra.rows import (
    AUDIT_COLUMNS,
    CROP_COLUMNS,
    HIT_COLUMNS,
    HIT_ID_COLUMNS,
    READ_COLUMNS,
    SPELLING_COLUMNS,
    audit_row,
    crop_from_row,
    crop_row,
    hit_id_row,
    hit_row,
    read_from_row,
    read_row,
    spelling_row,
    utc,
)
from connectors.cassandra.schema import SCHEMA_CQL, TABLES, keyspace_name
from connectors.cassandra.session import store_error
from connectors.cassandra.writes import insert_cql
from schemas.errors import ConfigurationError, StoreUnavailable
from schemas.plates import confusable_key
from schemas.records import (
    AuditAction,
    AuditEvent,
    AuditOutcome,
    CameraKind,
    Classification,
    MatchKind,
    PlateCandidate,
    PlateCrop,
    PlateRead,
    ReadSource,
)
from tests.factories import NOW, a_hit, a_read, an_entry

TTL = 86_400


def as_stored(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A written row (its TTL last) as the driver reads it back."""

    def stored(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None)
        if isinstance(value, dict):
            return dict(sorted(value.items()))
        return value

    return tuple(stored(value) for value in row[:-1])


# Cassandra keeps milliseconds; small integers are exact in a 32-bit float column.
times = st.integers(min_value=0, max_value=4_102_444_800_000).map(
    lambda ms: datetime.fromtimestamp(ms / 1000, UTC)
)
text = st.text(max_size=20)
scores = st.integers(min_value=0, max_value=100).map(float)


def best_first(candidates: dict[str, float]) -> tuple[PlateCandidate, ...]:
    ranked = sorted(candidates.items(), key=lambda item: (-item[1], item[0]))
    return tuple(PlateCandidate(plate, score) for plate, score in ranked)


# Reads in the form the table keeps: one candidate per spelling, best first.
reads = st.builds(
    PlateRead,
    read_id=text, agency_ori=text, camera_id=text,
    camera_kind=st.sampled_from(CameraKind),
    collected_at=times, received_at=times, expires_at=times,
    plate=text, confidence=scores,
    source=st.sampled_from(ReadSource),
    latitude=st.none() | st.floats(-90, 90), longitude=st.none() | st.floats(-180, 180),
    region=st.none() | text, region_confidence=scores,
    candidates=st.dictionaries(text, scores, max_size=4).map(best_first),
    plate_box=st.none() | st.tuples(*(st.integers(0, 5000),) * 4),
    image_ref=st.none() | text, source_ref=st.none() | text,
    classification=st.sampled_from(Classification),
    frame_count=st.integers(1, 100), duplicates=st.integers(0, 1000),
)  # fmt: skip


@given(read=reads)
def test_a_read_round_trips_through_its_row(read: PlateRead) -> None:
    row = read_row(read, TTL)
    assert len(row) == len(READ_COLUMNS) + 1 and row[-1] == TTL
    assert read_from_row(as_stored(row)) == read


def test_a_read_row_holds_each_value_under_its_column() -> None:
    read = a_read(
        candidates=(PlateCandidate("ABC123", 91.5), PlateCandidate("A8C123", 40.0)),
        plate_box=(1, 2, 3, 4),
        image_ref="crop:x",
    )
    row = dict(zip(READ_COLUMNS, read_row(read, TTL), strict=False))
    assert row["plate"] == "ABC123" and row["read_id"] == read.read_id
    assert row["camera_kind"] == "FIXED" and row["classification"] == "NONPUBLIC"
    assert row["candidates"] == {"ABC123": 91.5, "A8C123": 40.0}
    assert row["plate_box"] == [1, 2, 3, 4] and row["image_ref"] == "crop:x"


def test_what_a_read_row_does_not_keep() -> None:
    read = a_read(
        candidates=(
            PlateCandidate("A8C123", 40.0, matches_template=True),
            PlateCandidate("ABC123", 91.5),
        )
    )
    back = read_from_row(as_stored(read_row(read, TTL)))
    # A map keeps no order, and no template flag: candidates come back best first.
    assert back.candidates == (PlateCandidate("ABC123", 91.5), PlateCandidate("A8C123", 40.0))


def test_a_read_row_from_before_a_column_was_added_takes_the_defaults() -> None:
    row = dict(zip(READ_COLUMNS, as_stored(read_row(a_read(), TTL)), strict=True))
    row.update(region_confidence=None, frame_count=None, duplicates=None, candidates=None)
    back = read_from_row(tuple(row.values()))
    assert (back.region_confidence, back.frame_count, back.duplicates) == (0.0, 1, 0)
    assert back.candidates == ()


def test_a_spelling_row_is_filed_under_the_folded_plate() -> None:
    read = a_read(plate="B0B123")
    row = spelling_row(read, TTL)
    assert len(row) == len(SPELLING_COLUMNS) + 1
    assert row == (confusable_key("B0B123"), "B0B123", read.collected_at, read.read_id, TTL)


@given(read_id=text, agency=text, collected_at=times, expires_at=times, jpeg=st.binary(max_size=64))
def test_a_crop_round_trips_through_its_row(
    read_id: str, agency: str, collected_at: datetime, expires_at: datetime, jpeg: bytes
) -> None:
    crop = PlateCrop(read_id, agency, "cam-1", collected_at, expires_at, jpeg)
    row = crop_row(crop, TTL)
    assert len(row) == len(CROP_COLUMNS) + 1 and row[-1] == TTL
    # The driver hands a blob back as bytes or a bytearray.
    stored = as_stored(row)
    assert crop_from_row((*stored[:-1], bytearray(stored[-1]))) == crop


def test_a_hit_row_holds_the_read_the_entry_and_the_match() -> None:
    read = a_read(agency_ori="MN9990002", latitude=45.0, longitude=-93.0)
    entry = an_entry(priority=80, covert=True)
    hit = a_hit(
        read=read, entry=entry, match_kind=MatchKind.CONFUSABLE, historical=True,
        needs_verification=True,
    )  # fmt: skip
    row = hit_row(hit, TTL)
    assert len(row) == len(HIT_COLUMNS) + 1 and row[-1] == TTL
    assert dict(zip(HIT_COLUMNS, row, strict=False)) == {
        "agency_ori": "MN9990002", "matched_at": hit.matched_at, "hit_id": hit.hit_id,
        "plate": read.plate, "read_id": read.read_id, "collected_at": read.collected_at,
        "expires_at": read.expires_at, "camera_id": read.camera_id, "latitude": 45.0,
        "longitude": -93.0, "region": read.region, "entry_id": entry.entry_id,
        "list_id": entry.list_id, "category": entry.category.value, "priority": 80,
        "covert": True, "match_kind": MatchKind.CONFUSABLE.value, "state_mismatch": False,
        "historical": True, "needs_verification": True,
    }  # fmt: skip
    assert hit_id_row(hit, TTL) == (hit.hit_id, "MN9990002", hit.matched_at, TTL)
    assert len(HIT_ID_COLUMNS) == 3


def test_an_audit_row_is_filed_under_its_day_and_kept() -> None:
    event = AuditEvent(
        "e-1", NOW + timedelta(hours=11), "jdoe", AuditAction.SEARCH, "reads", "plate=X",
        outcome=AuditOutcome.DENIED, actor_agency_ori="MN9990001", purpose="case 12",
        recipient_agency_ori="MN9990002", details={"results": "3"},
    )  # fmt: skip
    row = audit_row(event)
    assert len(row) == len(AUDIT_COLUMNS), "no TTL: the audit trail is kept"
    assert dict(zip(AUDIT_COLUMNS, row, strict=True)) == {
        "day": "2026-11-23", "occurred_at": event.occurred_at, "event_id": "e-1",
        "actor": "jdoe", "actor_agency_ori": "MN9990001", "action": "SEARCH",
        "purpose": "case 12", "target_kind": "reads", "target_id": "plate=X",
        "recipient_agency_ori": "MN9990002", "outcome": "DENIED", "details": {"results": "3"},
    }  # fmt: skip


def test_driver_times_are_read_as_utc() -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5)  # as the driver returns them
    assert utc(naive) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    aware = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert utc(aware) is aware


def test_an_insert_binds_its_columns_in_order_then_the_ttl_and_timestamp() -> None:
    cql = insert_cql("ks", "plate_crops", CROP_COLUMNS, ttl=True)
    assert cql == (
        "INSERT INTO ks.plate_crops (read_id, agency_ori, camera_id, collected_at, expires_at,"
        " jpeg) VALUES (?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"
    )
    assert "TTL" not in insert_cql("ks", "audit_events", AUDIT_COLUMNS, ttl=False)


def test_the_tables_are_those_the_schema_makes() -> None:
    assert len(TABLES) == len(SCHEMA_CQL)
    assert set(TABLES) == {
        "reads_by_plate", "hits_by_agency", "hits_by_id", "audit_events",
        "plates_by_folded_plate", "hotlist_checks", "plate_crops", "audit_chain",
        "audit_chain_events", "audit_chain_heads", "audit_checkpoints", "holds",
        "held_reads", "read_holds", "usage_reads", "usage_hits", "reads_by_agency_day",
        "people", "people_by_agency", "sessions", "login_failures", "cameras",
        "camera_locations", "bca_notices",
    }  # fmt: skip


def test_a_reads_agency_day_row_carries_the_reads_ttl_and_utc_day() -> None:
    from connectors.cassandra.rows import DAY_COLUMNS, day_row

    collected = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-6)))
    read = a_read(collected_at=collected)
    row = day_row(read, 1234)
    assert len(row) == len(DAY_COLUMNS) + 1 and row[-1] == 1234
    assert dict(zip(DAY_COLUMNS, row, strict=False))["day"] == "2026-03-02"


@pytest.mark.parametrize("name", ["", "Lprx", "1lprx", "lprx; DROP", "lprx.reads", "a" * 49])
def test_only_a_plain_identifier_is_a_keyspace(name: str) -> None:
    with pytest.raises(ConfigurationError):
        keyspace_name(name)
    assert keyspace_name("lprx_test_01") == "lprx_test_01"


@pytest.mark.parametrize(
    "error",
    [
        NoHostAvailable("no host", {}),
        Unavailable("2 replicas needed"),
        ReadTimeout("read timed out"),
        WriteTimeout("write timed out", write_type=WriteType.UNLOGGED_BATCH),
        OperationTimedOut("client timeout"),
        ConnectionShutdown("closed"),
        ConnectionResetError("reset"),
        ServerError(0, "server broke", {}),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_transient_driver_error_is_store_unavailable(error: Exception) -> None:
    assert isinstance(store_error(error, "write"), StoreUnavailable)
    with (
        pytest.raises(StoreUnavailable, match="Cassandra write failed") as raised,
        map_exceptions("write"),
    ):
        raise error
    assert raised.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [InvalidRequest("table nope does not exist"), SyntaxException(0x2000, "line 1:0", {})],
    ids=lambda error: type(error).__name__,
)
def test_a_statement_cassandra_refuses_is_permanent(error: Exception) -> None:
    assert isinstance(store_error(error, "read"), StoreRejected)
    with pytest.raises(StoreRejected, match="refused the read") as raised, map_exceptions("read"):
        raise error
    assert raised.value.__cause__ is error


def test_an_error_not_the_drivers_passes_through() -> None:
    assert store_error(KeyError("x"), "read") is None
    with pytest.raises(KeyError), map_exceptions("read"):
        raise KeyError("x")


def test_an_audit_row_the_trigger_already_holds_is_written_before_and_another_fails() -> None:
    from connectors.cassandra.audit_chain import AuditChains

    said = "ks.audit_events is append-only: may not "
    same = AuditChains._outcome(
        InvalidRequest("ks.audit_events already holds this row, with the same values")
    )
    older = AuditChains._outcome(InvalidRequest(said + "overwrite an existing row"))
    other = AuditChains._outcome(
        InvalidRequest(said + "overwrite an existing row (with other values)")
    )
    assert (same.ok, same.already_stored) == (True, True)
    assert (older.ok, older.already_stored) == (True, True)  # a trigger that cannot tell
    assert not other.ok and "with other values" in (other.error or "")
