"""The retention options of the TTL tables and the keyspace's replication, from settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from connectors.cassandra.config import CassandraConfig
from connectors.cassandra.retention import (
    TTL_TABLES,
    compaction,
    disposition_timestamp,
    keyspace_replication,
    ttl_table_options,
    write_timestamp,
)
from connectors.cassandra.schema import TABLES


def test_a_local_node_has_one_replica_and_production_one_set_per_data_centre() -> None:
    assert keyspace_replication(CassandraConfig()) == {
        "class": "SimpleStrategy",
        "replication_factor": "1",
    }
    production = CassandraConfig(cassandra_replication={"dc2": 3, "dc1": 3})
    assert keyspace_replication(production) == {
        "class": "NetworkTopologyStrategy",
        "dc1": "3",
        "dc2": "3",
    }


@pytest.mark.parametrize("bad", [{"dc1'; DROP": 3}, {"dc1": 0}, {"": 1}])
def test_data_centres_are_plain_names_with_replicas(bad: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        CassandraConfig(cassandra_replication=bad)


def test_ttl_tables_drop_expired_cells_within_hours_by_default() -> None:
    config = CassandraConfig()
    options = ttl_table_options(config)
    assert "gc_grace_seconds = 10800" in options
    assert "memtable_flush_period_in_ms = 3600000" in options
    assert compaction(config)["tombstone_compaction_interval"] == str(12 * 3600)
    assert compaction(config)["tombstone_threshold"] == "0.0"
    # Every TTL table exists; audit and the hotlist checks (deletes of their own) are not.
    assert set(TTL_TABLES) <= TABLES
    assert not {"audit_events", "hotlist_checks"} & set(TTL_TABLES)


def test_write_timestamps_follow_destruction_dates_and_are_never_in_the_future() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    thirty, sixty = now + timedelta(days=30), now + timedelta(days=60)
    assert write_timestamp(thirty) < write_timestamp(sixty)
    assert write_timestamp(now + timedelta(days=3000)) < now.timestamp() * 1_000_000
    # A disposition lands just after its hit, and a later one after an earlier one.
    hit = write_timestamp(sixty)
    first = disposition_timestamp(hit, now, now + timedelta(minutes=5))
    second = disposition_timestamp(hit, now, now + timedelta(minutes=6))
    assert hit < first < second < hit + 86 * 1_000_000
