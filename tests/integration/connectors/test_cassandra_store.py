"""The Cassandra store against a real Cassandra 5 node."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from cassandra.query import BatchStatement

from connectors.cassandra import CassandraStore, writes
from pipelines.settings import Settings
from schemas.records import AuditAction, AuditEvent, PlateCrop, new_id, utcnow
from schemas.retention import expires_at
from tests.conftest import unique_settings
from tests.factories import a_hit, a_read

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def store(servers: Settings) -> Iterator[CassandraStore]:
    settings = unique_settings(servers)
    with CassandraStore(settings) as store:
        yield store
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


def test_ttl_is_what_is_left_of_retention_since_collection(store: CassandraStore) -> None:
    now = utcnow()
    fresh = a_read(plate="TTL0001", collected_at=now, expires_at=expires_at(now, 60))
    old = a_read(
        plate="TTL0001",
        collected_at=now - 59 * DAY,
        expires_at=expires_at(now - 59 * DAY, 60),
    )
    outcomes = store.write_reads([fresh, old], now)
    assert all(o.ok for o in outcomes)
    ttls = {row["read_id"]: row["ttl"] for row in store.reads_for_plate("TTL0001")}
    # CQL TTL() counts down from the write; allow a few seconds for the round trip.
    assert 60 * 86400 - 10 <= ttls[fresh.read_id] <= 60 * 86400
    assert 86400 - 10 <= ttls[old.read_id] <= 86400


def test_read_past_retention_is_refused_and_not_stored(store: CassandraStore) -> None:
    now = utcnow()
    stale = a_read(plate="TTL0002", collected_at=now - 61 * DAY, expires_at=now - DAY)
    good = a_read(plate="TTL0002", collected_at=now, expires_at=now + 60 * DAY)
    outcomes = store.write_reads([stale, good], now)
    assert outcomes[0].expired and not outcomes[0].ok
    assert outcomes[1].ok
    assert [r["read_id"] for r in store.reads_for_plate("TTL0002")] == [good.read_id]


def test_hits_and_audit_are_stored(store: CassandraStore) -> None:
    now = utcnow()
    hit = a_hit(
        matched_at=now, read=a_read(agency_ori="MNHITS001", expires_at=now + DAY),
        needs_verification=True,
    )  # fmt: skip
    assert store.write_hits([hit], now)[0].ok
    rows = store.hits_for_agency("MNHITS001")
    assert [(r["hit_id"], r["needs_verification"]) for r in rows] == [(hit.hit_id, True)]
    # A hit is found by its id alone (dispositions name hits by id).
    found_hit = store.find_hit(hit.hit_id)
    assert found_hit is not None
    assert (found_hit.agency_ori, found_hit.matched_at) == (
        "MNHITS001",
        rows[0]["matched_at"].replace(tzinfo=now.tzinfo),
    )
    assert store.find_hit("no-such-hit") is None
    event = AuditEvent(new_id(), now, "jdoe", AuditAction.SEARCH, "query", "plate=X", purpose="c1")
    assert store.write_audit([event])[0].ok
    found = [
        e for e in store.audit_events(now.strftime("%Y-%m-%d")) if e["event_id"] == event.event_id
    ]
    assert [(e["actor"], e["purpose"], e["action"]) for e in found] == [("jdoe", "c1", "SEARCH")]


def test_plate_crops_expire_with_their_reads(store: CassandraStore) -> None:
    now = utcnow()
    jpeg = b"\xff\xd8 a small plate crop \xff\xd9"
    fresh = PlateCrop(new_id(), "MN9990001", "cam-1", now, expires_at(now, 60), jpeg)
    aged = PlateCrop(
        new_id(), "MN9990001", "cam-1", now - 59 * DAY, expires_at(now - 59 * DAY, 60), jpeg
    )
    gone = PlateCrop(new_id(), "MN9990001", "cam-1", now - 61 * DAY, now - DAY, jpeg)
    outcomes = store.write_crops([fresh, aged, gone], now)
    assert [(o.ok, o.expired) for o in outcomes] == [(True, False), (True, False), (False, True)]
    stored = store.plate_crop(fresh.read_id)
    assert stored is not None and stored.jpeg == jpeg and stored.camera_id == "cam-1"
    assert abs(stored.collected_at - now) < timedelta(milliseconds=1)
    assert store.plate_crop(gone.read_id) is None, "past retention: nothing kept"
    ks = store.keyspace
    ttls = {
        row.read_id: row.ttl
        for row in store.session.execute(f"SELECT read_id, TTL(jpeg) AS ttl FROM {ks}.plate_crops")
    }
    assert 60 * 86400 - 10 <= ttls[fresh.read_id] <= 60 * 86400
    assert 86400 - 10 <= ttls[aged.read_id] <= 86400
    assert store.count("plate_crops") == 2


def test_a_new_entry_finds_reads_stored_under_a_confusable_spelling(
    store: CassandraStore,
) -> None:
    now = utcnow()
    later = now + DAY
    exact = a_read(plate="CNF1234", collected_at=now, expires_at=later)
    confusable = a_read(plate="CNFI234", collected_at=now, expires_at=later)  # I for 1
    other = a_read(plate="CNF1235", collected_at=now, expires_at=later)  # another car
    assert all(o.ok for o in store.write_reads([exact, confusable, other], now))
    found = store.stored_reads_like("CNF1234")
    assert {r.read_id for r in found} == {exact.read_id, confusable.read_id}
    assert {r.read_id for r in store.stored_reads_like("CNFI234")} == {
        exact.read_id,
        confusable.read_id,
    }


def test_a_spelling_expires_with_its_read(store: CassandraStore) -> None:
    now = utcnow()
    soon = a_read(plate="EXP0B12", collected_at=now, expires_at=now + timedelta(seconds=2))
    assert store.write_reads([soon], now)[0].ok
    assert [r.read_id for r in store.stored_reads_like("EXP0812")] == [soon.read_id]
    time.sleep(3)
    assert store.stored_reads_like("EXP0812") == []
    rows = store.session.execute(
        f"SELECT plate FROM {store.keyspace}.plates_by_folded_plate WHERE folded_plate = %s",
        ("EXP0812",),
    )
    assert list(rows) == [], "the spelling row went with the read"


def test_an_entry_is_checked_once_until_its_plate_changes_or_it_is_retracted(
    store: CassandraStore,
) -> None:
    now = utcnow()
    assert not store.entry_checked("ncic:MN:CHK1", "CHK1")
    store.mark_entry_checked("ncic:MN:CHK1", "CHK1", now)
    assert store.entry_checked("ncic:MN:CHK1", "CHK1")
    assert not store.entry_checked("ncic:MN:CHK1", "CHK2"), "a new plate is checked again"
    store.forget_entry_check("ncic:MN:CHK1")
    assert not store.entry_checked("ncic:MN:CHK1", "CHK1"), "listed again, checked again"


def test_a_large_read_is_stored_like_any_other(store: CassandraStore) -> None:
    """Each read's three rows: the small one's in one batch, the large one's apart (too
    large for a batch: Cassandra refuses batches over 50 KiB)."""
    now = utcnow()
    agency = "MNBIG0001"
    large = a_read(plate="BIG0001", source_ref="x" * 60_000, collected_at=now,
                   expires_at=now + DAY, agency_ori=agency)  # fmt: skip
    small = a_read(plate="BIG0001", collected_at=now, expires_at=now + DAY, agency_ori=agency)
    assert [o.ok for o in store.write_reads([large, small], now)] == [True, True]
    found = {r.read_id: r for r in store.stored_reads_like("B1G0001")}
    assert set(found) == {large.read_id, small.read_id}
    assert found[large.read_id].source_ref == large.source_ref
    assert {r["read_id"] for r in store.reads_for_plate("BIG0001")} == set(found)
    day = store.day_reads(agency, f"{now:%Y-%m-%d}", now - DAY, now + DAY, 10)
    assert {r.read_id for r in day} == set(found)


def test_a_read_written_again_is_stored_once(store: CassandraStore) -> None:
    """A pass sent again after a worker was killed before its mark: an upsert by read id."""
    now = utcnow()
    read = a_read(plate="TWC0001", collected_at=now, expires_at=now + DAY)
    assert store.write_reads([read], now)[0].ok
    again = dataclasses.replace(read, duplicates=3)  # more reads folded in meanwhile
    assert store.write_reads([again], now)[0].ok
    assert [r["read_id"] for r in store.reads_for_plate("TWC0001")] == [read.read_id]


def test_a_hit_matched_again_keeps_the_row_of_its_first_match(store: CassandraStore) -> None:
    """A read matched again (its worker killed before committing, another taking its
    partition) gives the same hit id at a later time: still one row, the first match's."""
    now = utcnow()
    hit = a_hit(matched_at=now, read=a_read(agency_ori="MNAGAIN01", expires_at=now + DAY))
    assert store.write_hits([hit], now)[0].ok
    later = dataclasses.replace(hit, matched_at=now + timedelta(seconds=7))
    other = a_hit(matched_at=now, read=a_read(agency_ori="MNAGAIN01", expires_at=now + DAY))
    assert all(outcome.ok for outcome in store.write_hits([later, other], now))
    rows = store.hits_for_agency("MNAGAIN01")
    assert sorted(r["hit_id"] for r in rows) == sorted([hit.hit_id, other.hit_id])
    first = next(r for r in rows if r["hit_id"] == hit.hit_id)
    assert abs(first["matched_at"].replace(tzinfo=now.tzinfo) - now) < timedelta(seconds=1)


def test_a_hit_matched_twice_in_one_batch_is_one_row(store: CassandraStore) -> None:
    """Both matches of a read (the killed worker's, sent but not committed, and its
    successor's) in one batch, neither stored yet: one row, the earlier match's."""
    now = utcnow()
    hit = a_hit(matched_at=now, read=a_read(agency_ori="MNTWICE01", expires_at=now + DAY))
    later = dataclasses.replace(hit, matched_at=now + timedelta(seconds=5))
    assert all(outcome.ok for outcome in store.write_hits([later, hit], now))
    rows = store.hits_for_agency("MNTWICE01")
    assert [r["hit_id"] for r in rows] == [hit.hit_id]
    assert abs(rows[0]["matched_at"].replace(tzinfo=now.tzinfo) - now) < timedelta(seconds=1)


def test_a_people_table_of_an_older_schema_gets_the_password_change_columns(
    store: CassandraStore, servers: Settings
) -> None:
    from connectors.cassandra.identity import CassandraAccounts
    from connectors.cassandra.schema import ensure_schema

    ks = store.keyspace
    store.session.execute(f"ALTER TABLE {ks}.people DROP (must_change_password, session_kept)")
    store.session.execute(
        f"INSERT INTO {ks}.people (username, kind, agency_ori, roles, password_hash, "
        "created_at, created_by) VALUES ('old.row', 'person', 'MN0270100', {'investigator'}, "
        "'x', toTimestamp(now()), 'test')"
    )
    ensure_schema(store.session, servers.model_copy(update={"cassandra_keyspace": ks}))
    old = CassandraAccounts(store.session, ks).account("old.row")
    assert old is not None and old.must_change_password is False  # null: chosen before
    assert old.session_kept is None
    accounts = CassandraAccounts(store.session, ks)
    accounts.put_account(dataclasses.replace(old, must_change_password=True, session_kept="ab"))
    again = accounts.account("old.row")
    assert again is not None and again.must_change_password is True
    assert again.session_kept == "ab"


def test_usage_counters_count_the_reads_and_hits_kept_in_the_same_call(
    store: CassandraStore,
) -> None:
    """The counters go out with the rows (one ``execute_concurrent``): each read and hit
    kept is counted once, one refused as expired is not."""
    now = utcnow()
    day = f"{now:%Y-%m-%d}"
    kept = [a_read(agency_ori="MNUSAGE01", camera_id="cam-u", collected_at=now) for _ in range(3)]
    stale = a_read(
        agency_ori="MNUSAGE01", camera_id="cam-u", collected_at=now - 61 * DAY, expires_at=now - DAY
    )
    outcomes = store.write_reads([*kept, stale], now)
    assert [o.ok for o in outcomes] == [True, True, True, False]
    hours = store.usage.camera_hours("MNUSAGE01", day, day)
    assert [(h.camera_id, h.hour, h.reads) for h in hours] == [("cam-u", now.hour, 3)]
    hits = [a_hit(matched_at=now, read=read) for read in kept[:2]]
    assert all(o.ok for o in store.write_hits(hits, now))
    counts = store.usage.hit_counts("MNUSAGE01", day, day)
    assert [c.hits for c in counts] == [2]


def test_entries_are_checked_and_their_reads_found_in_one_call_each(
    store: CassandraStore,
) -> None:
    """The historical check's batched calls answer as the one-entry calls do."""
    now = utcnow()
    later = now + DAY
    exact = a_read(plate="BTC1234", collected_at=now, expires_at=later)
    confusable = a_read(plate="BTCI234", collected_at=now, expires_at=later)  # I for 1
    alone = a_read(plate="BTD5678", collected_at=now, expires_at=later)
    assert all(o.ok for o in store.write_reads([exact, confusable, alone], now))
    found = store.stored_reads_like_each(["BTC1234", "BTD5678", "BTE0000", "BTCI234"])
    assert [{r.read_id for r in each} for each in found] == [
        {exact.read_id, confusable.read_id}, {alone.read_id}, set(),
        {exact.read_id, confusable.read_id},
    ]  # fmt: skip
    keys = [("ncic:MN:BTC1", "BTC1"), ("ncic:MN:BTC2", "BTC2")]
    assert store.entries_checked(keys) == [False, False]
    store.mark_entries_checked(keys, now)
    assert store.entries_checked([*keys, ("ncic:MN:BTC1", "BTC9")]) == [True, True, False]
    store.forget_entry_checks(["ncic:MN:BTC2"])
    assert store.entries_checked(keys) == [True, False]


def test_reads_go_three_to_a_request_and_each_is_stored(
    store: CassandraStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three reads' nine rows make one unlogged batch (under Cassandra's warnings of 10
    partitions and 5 KiB); a large read still goes a row at a time."""
    now = utcnow()
    reads = [a_read(plate=f"PK{i:04d}", collected_at=now) for i in range(7)]
    large = a_read(plate="PKBIG01", source_ref="x" * 5000, collected_at=now)
    sent: list[list[Any]] = []
    real = writes.execute_concurrent

    def spied(session: Any, statements: Any, **kwargs: Any) -> Any:
        sent.append(list(statements))
        return real(session, statements, **kwargs)

    monkeypatch.setattr(writes, "execute_concurrent", spied)
    assert all(o.ok for o in store.write_reads([*reads, large], now))
    statements = [statement for statement, _values in sent[0]]
    batches = [s for s in statements if isinstance(s, BatchStatement)]
    # 3 + 3 + 1 reads in batches, the large read's 3 rows apart, then the usage counters.
    assert [len(b._statements_and_parameters) for b in batches] == [9, 9, 3]
    rows_apart = [s for s in statements if not isinstance(s, BatchStatement)]
    assert len(rows_apart) == 3 + 1  # the large read's rows, one counter (one camera-hour)
    for read in [*reads, large]:
        assert [r.read_id for r in store.stored_reads(read.plate)] == [read.read_id]


def test_a_read_cassandra_refuses_fails_alone_and_its_batch_mates_are_stored(
    store: CassandraStore,
) -> None:
    """A batch refused for good is sent again a read at a time: each read its outcome."""
    now = utcnow()
    first, second = (a_read(plate=f"RF{i:04d}", collected_at=now) for i in range(2))
    # Cassandra refuses a TTL over 20 years.
    refused = a_read(plate="RF9999", collected_at=now, expires_at=now + 25 * 365 * DAY)
    outcomes = store.write_reads([first, refused, second], now)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert "ttl" in (outcomes[1].error or "").lower()
    assert [r.read_id for r in store.stored_reads("RF0000")] == [first.read_id]
    assert [r.read_id for r in store.stored_reads("RF0001")] == [second.read_id]
    assert store.stored_reads("RF9999") == []
