"""The Cassandra store of reads, plate crops, hits and the audit trail."""

from connectors.cassandra.store import (
    CassandraStore,
    HitLocation,
    RowOutcome,
    connect,
    ensure_schema,
)

__all__ = ["CassandraStore", "HitLocation", "RowOutcome", "connect", "ensure_schema"]
