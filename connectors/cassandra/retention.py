"""How long a read's cells stay on a node's disk, and how the keyspace is replicated.

A read's rows carry a TTL that ends at its destruction date (``writes.py``). An expired
cell is not returned, but it stays in its SSTable until a compaction rewrites that
SSTable, and compaction drops it only after ``gc_grace_seconds``. The tables whose rows
expire by TTL (``TTL_TABLES``) are therefore made so that compaction comes on its own,
without an operator:

- ``gc_grace_seconds`` is low (``cassandra_gc_grace_seconds``, 3 h). gc_grace exists so
  that a *delete* reaches every replica (by hint or repair) before its tombstone is
  dropped; these tables are never deleted from, and an expiring cell carries its absolute
  expiry to every replica (hints and repair stream it as written), so no copy of a read
  can come back after it expired. Hints live no longer than the smallest gc_grace of
  their tables: 3 h keeps them as long as Cassandra's default ``max_hint_window``.
- ``memtable_flush_period_in_ms`` (``cassandra_flush_period_seconds``, 1 h): a memtable
  is written out at least hourly, and each flush lets the compaction strategy look.
- TimeWindowCompactionStrategy, one window a day: an SSTable whose cells have all expired
  is dropped whole (looked for at every flush); and an SSTable at least
  ``cassandra_tombstone_compaction_interval_seconds`` (12 h) old that holds *any* cell
  expired past gc_grace is rewritten alone without it (``tombstone_threshold`` 0 and
  ``unchecked_tombstone_compaction``), so reads of agencies with different retentions,
  or posted late, sharing a window do not keep each other on disk.
- The keyspace's other tables flush as often (``flush_options``): a commit log segment,
  which holds every write made while it was active, is deleted once it is full and every
  table written to it has flushed.
- Every write to these tables carries the timestamp ``write_timestamp(expiry)``, its
  destruction date moved ten years back, not the time of writing. Compaction may drop
  an expired cell only if no other SSTable that may hold its partition has an older
  timestamp (else the cell might be shadowing older data there); with write times, a
  read that expires before an older-written read of the same plate (an agency with a
  shorter retention, a read posted late) stays on disk while the older one does (seen:
  such a cell outlived every compaction of a minute's run, where its partition was in
  an SSTable of an earlier window). With timestamps in expiry order, what holds a cell
  back is only a cell of its plate in another SSTable that expired *earlier*, which goes
  first; and the daily windows of TWCS become windows of destruction dates. The rows are
  never deleted, so a timestamp in the past shadows nothing; a disposition is written
  just after its hit's row (``disposition_timestamp``).

So a cell is gone from the SSTables within gc_grace + the interval + a flush period of
its destruction date (3 h + 12 h + 1 h = 16 h by default) while the table is written to;
a cell held back as above waits for the earlier one, and its own SSTable's rewrite while
it waited restarts the interval: 28 h with one such cell (deeper chains not measured).
Shown by ``tests/integration/connectors/test_cassandra_retention.py``, which reads the
SSTable files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from cassandra.cluster import Session

from connectors.cassandra.config import CassandraConfig

# The tables whose every row has the TTL of a read.
TTL_TABLES = (
    "reads_by_plate",
    "hits_by_agency",
    "hits_by_id",
    "plates_by_folded_plate",
    "plate_crops",
    "reads_by_agency_day",
)

TWCS = "TimeWindowCompactionStrategy"

# How far before its destruction date a row's write timestamp lies: more than any
# retention, so that no timestamp is in the future (a later write with the server's
# clock would lose to it).
EXPIRY_TIMESTAMP_OFFSET = timedelta(days=3650)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def write_timestamp(expires_at: datetime) -> int:
    """The write timestamp (microseconds) of a row destroyed at ``expires_at``."""
    return (expires_at - EXPIRY_TIMESTAMP_OFFSET - _EPOCH) // timedelta(microseconds=1)


def disposition_timestamp(hit_timestamp: int, matched_at: datetime, now: datetime) -> int:
    """A disposition's, from its hit row's: after it, and a later disposition after an
    earlier one; the milliseconds since the match count as microseconds, so it stays
    within minutes of its hit's (a day after the match adds 86 s)."""
    since_match_ms = max(0, (now - matched_at) // timedelta(milliseconds=1))
    return hit_timestamp + 1 + since_match_ms


def keyspace_replication(config: CassandraConfig) -> dict[str, str]:
    """The replication map of the keyspace: per data centre when the settings name them."""
    if config.cassandra_replication:
        return {
            "class": "NetworkTopologyStrategy",
            **{dc: str(rf) for dc, rf in sorted(config.cassandra_replication.items())},
        }
    return {"class": "SimpleStrategy", "replication_factor": "1"}


def compaction(config: CassandraConfig) -> dict[str, str]:
    return {
        "class": TWCS,
        "compaction_window_unit": "DAYS",
        "compaction_window_size": "1",
        "expired_sstable_check_frequency_seconds": str(config.cassandra_flush_period_seconds),
        "unchecked_tombstone_compaction": "true",
        "tombstone_threshold": "0.0",
        "tombstone_compaction_interval": str(
            config.cassandra_tombstone_compaction_interval_seconds
        ),
    }


def ttl_table_options(config: CassandraConfig) -> str:
    """The WITH clause (without WITH) of a table whose rows expire by TTL."""
    return (
        f"gc_grace_seconds = {config.cassandra_gc_grace_seconds}"
        f" AND memtable_flush_period_in_ms = {config.cassandra_flush_period_seconds * 1000}"
        f" AND compaction = {cql_map(compaction(config))}"
    )


def cql_map(values: Mapping[str, str]) -> str:
    # Keys and values are ours: numbers, and data centre names the settings checked.
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in values.items()) + "}"


def _short_class(value: str) -> str:
    return value.rsplit(".", 1)[-1]


def _normal(current: Mapping[str, str]) -> dict[str, str]:
    return {k: _short_class(v) if k == "class" else v for k, v in current.items()}


def _lacks(current: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Cassandra adds its defaults to a compaction map: only ours must match."""
    normal = _normal(current)
    return any(normal.get(k) != v for k, v in wanted.items())


def align_keyspace(session: Session, ks: str, config: CassandraConfig) -> bool:
    """Alters the keyspace's replication to the settings'; True if it changed."""
    wanted = keyspace_replication(config)
    row = session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (ks,)
    ).one()
    if row is not None and _normal(row[0]) == wanted:
        return False
    session.execute(f"ALTER KEYSPACE {ks} WITH replication = {cql_map(wanted)}")
    return True


def flush_options(config: CassandraConfig) -> str:
    """The WITH clause of the keyspace's other tables: flushed as often, so none of them
    keeps a commit log segment (which holds reads written with it) from being deleted."""
    return f"memtable_flush_period_in_ms = {config.cassandra_flush_period_seconds * 1000}"


def align_tables(
    session: Session, ks: str, config: CassandraConfig, tables: Iterable[str]
) -> list[str]:
    """Alters each of ``tables`` whose retention options differ from the settings' (a
    table made before these options existed, or changed settings); returns those."""
    wanted_compaction = compaction(config)
    flush_ms = config.cassandra_flush_period_seconds * 1000
    altered = []
    for table in sorted(tables):
        row = session.execute(
            "SELECT gc_grace_seconds, memtable_flush_period_in_ms, compaction "
            "FROM system_schema.tables WHERE keyspace_name = %s AND table_name = %s",
            (ks, table),
        ).one()
        if row is None:
            continue
        gc_grace, current_flush_ms, current = row
        if table in TTL_TABLES:
            in_line = (
                gc_grace == config.cassandra_gc_grace_seconds
                and current_flush_ms == flush_ms
                and not _lacks(current, wanted_compaction)
            )
            options = ttl_table_options(config)
        else:
            in_line, options = current_flush_ms == flush_ms, flush_options(config)
        if not in_line:
            session.execute(f"ALTER TABLE {ks}.{table} WITH {options}")
            altered.append(table)
    return altered
