"""Holds on a real Cassandra: a held read outlives its TTL, every copy of it (read,
spelling, crop, hit) is kept, and a release restores the original date or deletes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from connectors.cassandra import CassandraStore, connect
from connectors.cassandra.holds import HoldStore
from connectors.cassandra.rows import read_day
from connectors.cassandra.security import CUSTODIAN_ROLE, WRITER_ROLE
from connectors.kafka.audit import MemoryAuditTrail
from pipelines.services import holds
from pipelines.settings import Settings
from schemas.holds import Hold, HoldKind
from schemas.people import Principal, Role
from schemas.plates import confusable_key
from schemas.records import PlateCrop, utcnow
from tests.conftest import provision, unique_settings, wait_for
from tests.factories import a_hit, a_read

DAY = 86400
AGENCY = "MN9990100"
SUPERVISOR = Principal("sgt.berg", AGENCY, frozenset({Role.SUPERVISOR}), "session")


@pytest.fixture
def store(servers: Settings) -> Iterator[CassandraStore]:
    settings = provision(unique_settings(servers, topic_partitions=1))
    # Reads are written as the workers write them; holds act as the custodian (below).
    writer = settings.model_copy(update={"cassandra_username": WRITER_ROLE})
    with CassandraStore(writer, create_schema=False) as store:
        yield store
    cluster, admin = connect(settings)
    try:
        admin.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
    finally:
        cluster.shutdown()


@pytest.fixture
def hold_store(store: CassandraStore, servers: Settings) -> Iterator[HoldStore]:
    """The holds as the API's hold routes act: the custodian role, and nothing more."""
    custodian = servers.model_copy(update={"cassandra_username": CUSTODIAN_ROLE,
                                           "cassandra_keyspace": store.keyspace})  # fmt: skip
    with CassandraStore(custodian, create_schema=False) as kept:
        yield HoldStore(kept.session, kept.keyspace)


def ttls(store: CassandraStore, read: Any, hit_id: str | None = None) -> dict[str, int | None]:
    """Each copy's TTL in seconds (absent: no row)."""
    ks, s = store.keyspace, store.session
    key = (read.plate, read.collected_at, read.read_id)
    found: dict[str, Any] = {
        "read": s.execute(f"SELECT TTL(agency_ori) FROM {ks}.reads_by_plate WHERE plate = %s "
                          "AND collected_at = %s AND read_id = %s", key).one(),
        "spelling": s.execute(f"SELECT plate FROM {ks}.plates_by_folded_plate WHERE "
                              "folded_plate = %s AND plate = %s AND collected_at = %s AND "
                              "read_id = %s", (confusable_key(read.plate), *key)).one(),
        "crop": s.execute(f"SELECT TTL(jpeg) FROM {ks}.plate_crops WHERE read_id = %s",
                          (read.read_id,)).one(),
        "day": s.execute(f"SELECT TTL(plate) FROM {ks}.reads_by_agency_day WHERE agency_ori = %s "
                         "AND day = %s AND collected_at = %s AND read_id = %s",
                         (read.agency_ori, read_day(read.collected_at), read.collected_at,
                          read.read_id)).one(),
    }  # fmt: skip
    if hit_id is not None:
        found["hit"] = s.execute(
            f"SELECT TTL(plate) FROM {ks}.hits_by_agency WHERE agency_ori = %s AND hit_id = %s "
            "ALLOW FILTERING",
            (read.agency_ori, hit_id),
        ).one()
    # The spelling row has key columns only, so no TTL to ask: present or not.
    return {
        name: (None if row is None else 1 if name == "spelling" else row[0])
        for name, row in found.items()
    }


def a_hold(plate: str, **fields: Any) -> Hold:
    now = utcnow()
    values: dict[str, Any] = dict(
        hold_id="", agency_ori="", kind=HoldKind.INVESTIGATIVE, case_number="26-004711",
        reason="burglary series, vehicle seen near scenes", placed_by="", placed_at=now,
        review_by=now + timedelta(days=90), plate=plate,
    )  # fmt: skip
    values.update(fields)
    return Hold(**values)


def test_a_held_read_outlives_its_ttl_and_is_gone_once_released(
    store: CassandraStore, hold_store: HoldStore
) -> None:
    now = utcnow()
    # Collected 60 days ago less 4 s: four seconds of retention left.
    read = a_read(plate="HOLD001", agency_ori=AGENCY, collected_at=now - timedelta(days=60),
                  expires_at=now + timedelta(seconds=4))  # fmt: skip
    assert store.write_reads([read], now)[0].ok
    crop = PlateCrop(read.read_id, AGENCY, read.camera_id, read.collected_at, read.expires_at,
                     b"\xff\xd8crop\xff\xd9")  # fmt: skip
    assert store.write_crops([crop], now)[0].ok
    hit = a_hit(read=read, matched_at=now)
    assert store.write_hits([hit], now)[0].ok
    trail = MemoryAuditTrail()
    placed = holds.place(hold_store, trail, SUPERVISOR,
                         a_hold("hold001", read_ids=frozenset({read.read_id})))  # fmt: skip
    assert placed.kept == 1
    held = ttls(store, read, hit.hit_id)
    want = (placed.hold.held_until - utcnow()).total_seconds()
    assert all(want - 30 <= t <= want + 5 for name, t in held.items() if name != "spelling"), held
    assert set(held) == {"read", "spelling", "crop", "day", "hit"} and all(held.values())
    time.sleep(6)  # its own date has passed: it is still there
    assert all(ttls(store, read, hit.hit_id).values())
    released = holds.release(hold_store, trail, SUPERVISOR, placed.hold.hold_id, "case closed")
    assert (released.deleted, released.restored) == (1, 0)
    gone = {"read": None, "spelling": None, "crop": None, "day": None, "hit": None}
    # Expired within the second (never deleted: retention.py), every copy.
    wait_for(lambda: ttls(store, read, hit.hit_id) == gone, 10, "the released copies expired")  # fmt: skip
    steps = [e.details["step"] for e in trail.events]
    assert steps == ["place", "kept", "release", "released"]
    assert all(e.actor == "sgt.berg" and e.target_id == placed.hold.hold_id for e in trail.events)


def test_a_window_hold_keeps_its_reads_and_a_release_restores_their_dates(
    store: CassandraStore,
    hold_store: HoldStore,
) -> None:
    now = utcnow()
    inside = a_read(plate="HOLD002", agency_ori=AGENCY, collected_at=now - timedelta(days=10),
                    expires_at=now + timedelta(days=50))  # fmt: skip
    outside = a_read(plate="HOLD002", agency_ori=AGENCY, collected_at=now - timedelta(days=20),
                     expires_at=now + timedelta(days=40))  # fmt: skip
    assert all(o.ok for o in store.write_reads([inside, outside], now))
    trail = MemoryAuditTrail()
    window = a_hold("HOLD002", window_from=now - timedelta(days=11),
                    window_to=now - timedelta(days=9))  # fmt: skip
    first = holds.place(hold_store, trail, SUPERVISOR, window)
    # A second case on the same reads, reviewed sooner: it must not shorten the first.
    second = holds.place(hold_store, trail, SUPERVISOR,
                         replace(window, review_by=now + timedelta(days=40)))  # fmt: skip
    assert (first.kept, second.kept) == (1, 1)

    def held_for(hold: Hold) -> float:
        return (hold.held_until - utcnow()).total_seconds()

    assert ttls(store, inside)["read"] == pytest.approx(held_for(first.hold), abs=30)
    assert ttls(store, outside)["read"] == pytest.approx(40 * DAY, abs=30)
    # Released once: the other hold still keeps it, to its own date. Released twice: the
    # read's own date again, and the holds' record of it gone.
    assert holds.release(hold_store, trail, SUPERVISOR, first.hold.hold_id, "done").kept == 1
    assert ttls(store, inside)["read"] == pytest.approx(held_for(second.hold), abs=30)
    assert holds.release(hold_store, trail, SUPERVISOR, second.hold.hold_id, "done").restored == 1
    assert ttls(store, inside)["read"] == pytest.approx(50 * DAY, abs=30)
    assert hold_store.held_reads(second.hold.hold_id) == []
    assert hold_store.holds_of_read(inside.read_id) == []
    due = holds.due(hold_store, trail, SUPERVISOR, timedelta(days=365))
    assert due == []  # both released


def test_an_exculpatory_request_is_recorded_and_reviewed_on_schedule(
    store: CassandraStore,
    hold_store: HoldStore,
) -> None:
    now = utcnow()
    read = a_read(plate="HOLD003", agency_ori=AGENCY, collected_at=now - timedelta(days=1),
                  expires_at=now + timedelta(days=59))  # fmt: skip
    assert store.write_reads([read], now)[0].ok
    trail = MemoryAuditTrail()
    request = a_hold("HOLD003", kind=HoldKind.EXCULPATORY, requester="A. Person (defendant)",
                     statement="I was not in Mapleton on 30 November; keep the reads.",
                     read_ids=frozenset({read.read_id}),
                     review_by=now + timedelta(days=3))  # fmt: skip
    placed = holds.place(hold_store, trail, SUPERVISOR, request)
    stored = hold_store.hold(placed.hold.hold_id)
    assert stored is not None and stored.statement == request.statement
    assert stored.kind is HoldKind.EXCULPATORY
    # Kept to its original date (later than review + grace here), due within the week.
    assert ttls(store, read)["read"] == pytest.approx(59 * DAY, abs=30)
    asker = SUPERVISOR
    assert [h.hold_id for h in holds.due(hold_store, trail, asker, timedelta(days=7))] == [
        placed.hold.hold_id
    ]
    assert holds.due(hold_store, trail, asker, timedelta(days=1)) == []
    assert [e.target_kind for e in trail.events[-2:]] == ["holds", "holds"]  # looking is audited


def test_a_read_arriving_after_its_hold_is_kept_by_the_store(
    store: CassandraStore, hold_store: HoldStore, servers: Settings
) -> None:
    now = utcnow()
    trail = MemoryAuditTrail()
    placed = holds.place(hold_store, trail, SUPERVISOR,
                         a_hold("HOLD004", window_from=now - timedelta(hours=1),
                                window_to=now + timedelta(hours=1)))  # fmt: skip
    assert placed.kept == 0  # nothing stored yet
    # A worker's store (its own session) sees the hold at its first write.
    writer = servers.model_copy(update={"cassandra_username": WRITER_ROLE,
                                        "cassandra_keyspace": store.keyspace})  # fmt: skip
    later = a_read(plate="HOLD004", agency_ori=AGENCY, collected_at=now,
                   expires_at=now + timedelta(days=60))  # fmt: skip
    other = a_read(plate="HOLD005", agency_ori=AGENCY, collected_at=now,
                   expires_at=now + timedelta(days=60))  # fmt: skip
    with CassandraStore(writer, create_schema=False) as worker_store:
        assert all(o.ok for o in worker_store.write_reads([later, other], utcnow()))
        hit = a_hit(read=later, matched_at=utcnow())
        assert worker_store.write_hits([hit], utcnow())[0].ok
    held_for = (placed.hold.held_until - utcnow()).total_seconds()
    kept = ttls(store, later, hit.hit_id)
    assert kept["read"] == pytest.approx(held_for, abs=30)
    assert kept["hit"] == pytest.approx(held_for, abs=30)
    assert ttls(store, other)["read"] == pytest.approx(60 * DAY, abs=30)
    # The release finds it among the hold's reads.
    assert holds.release(hold_store, trail, SUPERVISOR, placed.hold.hold_id, "done").restored == 1
    assert ttls(store, later)["read"] == pytest.approx(60 * DAY, abs=30)
