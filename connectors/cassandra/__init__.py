"""The Cassandra store of reads, plate crops, hits and the audit trail.

``session`` connects and maps driver errors to ``schemas.errors``, ``schema`` makes the
keyspace and tables, ``rows`` maps records to rows and back, ``writes`` and ``queries``
hold the prepared statements, and ``store.CassandraStore`` puts them together.
"""

from connectors.cassandra.queries import HitLocation
from connectors.cassandra.schema import ensure_schema
from connectors.cassandra.session import connect, map_exceptions
from connectors.cassandra.store import CassandraStore
from connectors.cassandra.writes import RowOutcome
from schemas.errors import StoreRejected

__all__ = [
    "CassandraStore",
    "HitLocation",
    "RowOutcome",
    "StoreRejected",
    "connect",
    "ensure_schema",
    "map_exceptions",
]
