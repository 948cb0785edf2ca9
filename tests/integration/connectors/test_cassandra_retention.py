"""A read's cells leave the disk after its destruction date, against a real Cassandra 5:
the test reads the SSTable files themselves. Its keyspace runs the production options
scaled from hours to seconds (gc_grace 0, flush and tombstone-compaction interval 1 s),
and no nodetool: the table options alone get the cells off the disk."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.cassandra import CassandraStore
from connectors.cassandra.retention import TTL_TABLES, write_timestamp
from connectors.servers.cassandra_server import CassandraServer
from pipelines.settings import Settings
from schemas.records import Disposition, HitDisposition, utcnow
from tests.conftest import unique_settings, wait_for
from tests.factories import a_hit, a_read

SECONDS_SCALE = {
    "cassandra_gc_grace_seconds": 0,
    "cassandra_flush_period_seconds": 1,
    "cassandra_tombstone_compaction_interval_seconds": 1,
}


@pytest.fixture(scope="module")
def production(servers: Settings) -> Settings:
    return unique_settings(servers)


@pytest.fixture(scope="module")
def store(production: Settings) -> Iterator[CassandraStore]:
    CassandraStore(production).close()  # the tables made with the production options
    seconds = production.model_copy(update=SECONDS_SCALE)
    with CassandraStore(seconds) as store:  # setup again: tables brought in line
        yield store
        store.session.execute(f"DROP KEYSPACE IF EXISTS {production.cassandra_keyspace}")


def table_options(store: CassandraStore, table: str) -> tuple[int, int, dict[str, str]]:
    row = store.session.execute(
        "SELECT gc_grace_seconds, memtable_flush_period_in_ms, compaction "
        "FROM system_schema.tables WHERE keyspace_name = %s AND table_name = %s",
        (store.keyspace, table),
    ).one()
    assert row is not None, table
    return row[0], row[1], dict(row[2])


def sstables_holding(settings: Settings, keyspace: str, needle: bytes) -> list[str]:
    """The SSTable data files of the keyspace, on the node's disk, that hold ``needle``."""
    root = CassandraServer(settings).data / "data" / keyspace
    files = [p for p in root.glob("*/*-Data.db") if p.is_file()]
    return sorted(str(p.relative_to(root)) for p in files if needle in _read(p))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:  # compacted away while listed
        return b""


def test_setup_brings_existing_tables_in_line(store: CassandraStore) -> None:
    for table in TTL_TABLES:
        gc_grace, flush_ms, compaction = table_options(store, table)
        assert (gc_grace, flush_ms) == (0, 1000), table
        assert compaction["class"].endswith("TimeWindowCompactionStrategy"), table
        assert compaction["tombstone_compaction_interval"] == "1", table
        assert compaction["unchecked_tombstone_compaction"] == "true", table
    # Tables with deletes of their own keep Cassandra's gc_grace (10 days), and flush as
    # often (so none keeps a commit log segment holding reads).
    for table in ("hotlist_checks", "audit_events"):
        assert table_options(store, table)[:2] == (864000, 1000), table


def test_an_expired_read_leaves_the_sstables(servers: Settings, store: CassandraStore) -> None:
    ks = store.keyspace
    read_tables = {"reads_by_plate", "plates_by_folded_plate", "reads_by_agency_day"}
    for table in read_tables:
        # Uncompressed only here, so the test can find a read's bytes in the files.
        store.session.execute(f"ALTER TABLE {ks}.{table} WITH compression = {{'enabled': false}}")
    now = utcnow()
    # The same plate read twice: first a read kept a day (an agency with a longer
    # retention), then one destroyed in 4 s (a shorter one, or a read posted late).
    kept = a_read(plate="XPIRE42", collected_at=now, expires_at=now + timedelta(days=1))
    assert all(o.ok for o in store.write_reads([kept], now))
    wait_for(
        lambda: sstables_holding(servers, ks, kept.read_id.encode()), 30, "the kept read flushed"
    )
    now = utcnow()
    doomed = a_read(plate="XPIRE42", collected_at=now, expires_at=now + timedelta(seconds=4))
    assert all(o.ok for o in store.write_reads([doomed], now))

    # Flushed within the flush period: the read and its spelling row are in SSTables
    # (the scan sees them), and the day index's row. Each table's flush is noted when seen, as on a loaded machine
    # one table's copy may already be compacted away by the time the other's is flushed.
    seen: set[str] = set()

    def doomed_flushed_to_both() -> bool:
        holding = sstables_holding(servers, ks, doomed.read_id.encode())
        seen.update(n.split("-", 1)[0] for n in holding)
        return seen == read_tables

    wait_for(doomed_flushed_to_both, 60, "the doomed read flushed")

    # Past its date, while the table is written to (each write is flushed within 1 s,
    # and each flush lets compaction look), the expired read's cells leave the disk,
    # though an SSTable written before it holds its partition.
    deadline = time.monotonic() + 90
    filler = 0
    while on_disk := sstables_holding(servers, ks, doomed.read_id.encode()):
        assert time.monotonic() < deadline, on_disk
        filler += 1
        write_at = utcnow()
        later = a_read(plate=f"FILL{filler:03d}", expires_at=write_at + timedelta(days=1))
        assert all(o.ok for o in store.write_reads([later], write_at))
        time.sleep(1)
    assert utcnow() >= doomed.expires_at
    # The kept read stayed, on disk and in queries.
    assert sstables_holding(servers, ks, kept.read_id.encode())
    assert [r.read_id for r in store.stored_reads("XPIRE42")] == [kept.read_id]
    # Written with the timestamp of its destruction date, not of its writing.
    row = store.session.execute(
        f"SELECT WRITETIME(agency_ori) FROM {ks}.reads_by_plate WHERE plate = %s",
        (kept.plate,),
    ).one()
    assert row is not None and row[0] == write_timestamp(kept.expires_at)


def test_setup_alters_the_keyspace_to_the_replication_settings(
    production: Settings, store: CassandraStore
) -> None:
    def replication() -> dict[str, str]:
        row = store.session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (store.keyspace,),
        ).one()
        assert row is not None
        return dict(row[0])

    assert replication()["class"].endswith("SimpleStrategy")
    local_dc = store.session.execute("SELECT data_center FROM system.local").one()[0]
    per_dc = production.model_copy(update={**SECONDS_SCALE, "cassandra_replication": {local_dc: 1}})
    CassandraStore(per_dc).close()  # setup with production replication, per data centre
    assert replication() == {
        "class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
        local_dc: "1",
    }


def test_a_later_disposition_wins_and_a_replayed_hit_keeps_it(store: CassandraStore) -> None:
    now = utcnow()
    read = a_read(plate="DISP042", collected_at=now, expires_at=now + timedelta(days=30))
    hit = a_hit(read=read, matched_at=now)
    assert all(o.ok for o in store.write_hits([hit], now))

    def decide(disposition: Disposition) -> None:
        decided = HitDisposition(
            hit.hit_id, read.agency_ori, hit.matched_at, disposition, "jdoe", read.agency_ori,
            utcnow(),
        )  # fmt: skip
        store.write_disposition(decided, 3600)

    decide(Disposition.MISREAD)
    time.sleep(0.01)
    decide(Disposition.CORRECT)
    assert all(o.ok for o in store.write_hits([hit], utcnow()))  # the hit replayed
    (row,) = [h for h in store.hits_for_agency(read.agency_ori) if h["hit_id"] == hit.hit_id]
    assert row["disposition"] == "CORRECT"
