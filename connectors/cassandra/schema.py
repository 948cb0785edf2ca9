"""The keyspace and tables of the store, and the columns added to them since.

Reads live with a per-row TTL equal to what is left of their retention since
*collection*; the tables of those rows carry the options that get expired cells off the
disk on time (``retention.py``), and setup brings existing tables and the keyspace's
replication in line with the settings.
"""

from __future__ import annotations

import logging
import re

from cassandra.cluster import Session

from connectors.cassandra.cameras import REGISTRY_CQL
from connectors.cassandra.config import CassandraConfig
from connectors.cassandra.identity import IDENTITY_CQL
from connectors.cassandra.retention import (
    align_keyspace,
    align_tables,
    cql_map,
    flush_options,
    keyspace_replication,
    ttl_table_options,
)
from connectors.cassandra.session import map_exceptions
from schemas.errors import ConfigurationError

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,47}")

# The options of a table whose rows expire by TTL (retention.ttl_table_options).
_TTL = "{ttl_options}"
# The other tables' (retention.flush_options).
_FLUSH = "{flush_options}"

SCHEMA_CQL = [
    """CREATE TABLE IF NOT EXISTS {ks}.reads_by_plate (
        plate text, collected_at timestamp, read_id text,
        agency_ori text, camera_id text, camera_kind text,
        received_at timestamp, expires_at timestamp,
        latitude double, longitude double,
        region text, region_confidence float, confidence float,
        candidates map<text, float>, plate_box list<int>,
        image_ref text, source text, source_ref text, classification text,
        frame_count int, duplicates int,
        PRIMARY KEY ((plate), collected_at, read_id)
    ) WITH CLUSTERING ORDER BY (collected_at DESC, read_id ASC) AND """
    + _TTL,
    """CREATE TABLE IF NOT EXISTS {ks}.hits_by_agency (
        agency_ori text, matched_at timestamp, hit_id text,
        plate text, read_id text, collected_at timestamp, expires_at timestamp,
        camera_id text, latitude double, longitude double, region text,
        entry_id text, list_id text, category text, priority int, covert boolean,
        match_kind text, state_mismatch boolean, historical boolean,
        needs_verification boolean,
        disposition text, disposition_by text, disposition_agency text,
        disposition_at timestamp, disposition_note text,
        PRIMARY KEY ((agency_ori), matched_at, hit_id)
    ) WITH CLUSTERING ORDER BY (matched_at DESC, hit_id ASC) AND """
    + _TTL,
    # Where each hit is stored, by its id, so a disposition can name a hit by id alone.
    """CREATE TABLE IF NOT EXISTS {ks}.hits_by_id (
        hit_id text PRIMARY KEY, agency_ori text, matched_at timestamp
    ) WITH """
    + _TTL,
    # Audit is kept (no TTL): CJIS asks for at least a year, the biennial audit for more.
    """CREATE TABLE IF NOT EXISTS {ks}.audit_events (
        day text, occurred_at timestamp, event_id text,
        actor text, actor_agency_ori text, action text, purpose text,
        target_kind text, target_id text, recipient_agency_ori text, outcome text,
        details map<text, text>,
        PRIMARY KEY ((day), occurred_at, event_id)
    ) WITH CLUSTERING ORDER BY (occurred_at DESC, event_id ASC) AND """
    + _FLUSH,
    # The audit chains (schemas/audit_chain.py): link n of an agency's chain, by the day
    # it was chained ("<chain>/<YYYY-MM-DD>", one partition key column, as the
    # append-only trigger needs), pointing at its audit_events row.
    """CREATE TABLE IF NOT EXISTS {ks}.audit_chain (
        chain_day_key text, seq bigint, event_id text, event_day text,
        occurred_at timestamp, link_hash blob,
        PRIMARY KEY ((chain_day_key), seq)
    ) WITH """
    + _FLUSH,
    # Which events are chained, and where: a redelivered event is never chained twice.
    """CREATE TABLE IF NOT EXISTS {ks}.audit_chain_events (
        event_id text PRIMARY KEY, chain text, seq bigint, chain_day text
    ) WITH """
    + _FLUSH,
    # Each chain's head, moved only by compare-and-set (so two writers never fork a
    # chain); pending: the links claimed by the last move, until their rows are written.
    """CREATE TABLE IF NOT EXISTS {ks}.audit_chain_heads (
        chain text PRIMARY KEY, seq bigint, link_hash blob, chain_day text,
        pending map<text, frozen<tuple<bigint, blob, text>>>
    ) WITH """
    + _FLUSH,
    # Signed checkpoints (Ed25519, connectors/security/signing.py): link seq of a chain.
    """CREATE TABLE IF NOT EXISTS {ks}.audit_checkpoints (
        chain text, chain_day text, seq bigint, link_hash blob, signed_at timestamp,
        key_id text, signature blob,
        PRIMARY KEY ((chain), chain_day, seq)
    ) WITH """
    + _FLUSH,
    # Holds (schemas/holds.py) and the reads each keeps, with their original expiry so a
    # release restores it. A hold names a plate as its case file does; it is kept as
    # the record of the hold (the reads themselves expire as the hold says).
    """CREATE TABLE IF NOT EXISTS {ks}.holds (
        hold_id text PRIMARY KEY, agency_ori text, kind text, case_number text,
        reason text, placed_by text, placed_at timestamp, review_by timestamp, plate text,
        window_from timestamp, window_to timestamp, read_ids set<text>, requester text,
        statement text, status text, released_by text, released_at timestamp,
        release_note text
    ) WITH """
    + _FLUSH,
    """CREATE TABLE IF NOT EXISTS {ks}.held_reads (
        hold_id text, read_id text, plate text, collected_at timestamp,
        agency_ori text, expires_at timestamp,
        PRIMARY KEY ((hold_id), read_id)
    ) WITH """
    + _FLUSH,
    """CREATE TABLE IF NOT EXISTS {ks}.read_holds (
        read_id text, hold_id text, PRIMARY KEY ((read_id), hold_id)
    ) WITH """
    + _FLUSH,
    # Usage counters for the public log of use (13.824 subd. 5): no plate, no read id,
    # so they outlive the reads they count. Reads per camera per hour (when it collected)
    # and hits per category and list, per agency and UTC day.
    """CREATE TABLE IF NOT EXISTS {ks}.usage_reads (
        agency_ori text, day text, camera_id text, hour int, reads counter,
        PRIMARY KEY ((agency_ori), day, camera_id, hour)
    ) WITH """
    + _FLUSH,
    """CREATE TABLE IF NOT EXISTS {ks}.usage_hits (
        agency_ori text, day text, category text, list_id text, hits counter,
        PRIMARY KEY ((agency_ori), day, category, list_id)
    ) WITH """
    + _FLUSH,
    # The spellings stored under each confusable-folded plate (one row per read, its TTL),
    # so a new hotlist entry finds reads of a confusable spelling in one query.
    """CREATE TABLE IF NOT EXISTS {ks}.plates_by_folded_plate (
        folded_plate text, plate text, collected_at timestamp, read_id text,
        PRIMARY KEY ((folded_plate), plate, collected_at, read_id)
    ) WITH """
    + _TTL,
    # Hotlist entries already checked against stored reads: an entry changed (priority,
    # dates) or read again by a new consumer group raises no historical hit twice.
    """CREATE TABLE IF NOT EXISTS {ks}.hotlist_checks (
        entry_id text PRIMARY KEY, folded_plate text, checked_at timestamp
    ) WITH """
    + _FLUSH,
    # Reads by agency and UTC day, for searches by partial plate, time and area that no
    # plate partition answers; same TTL as the read (written with it by the store stage).
    """CREATE TABLE IF NOT EXISTS {ks}.reads_by_agency_day (
        agency_ori text, day text, collected_at timestamp, read_id text,
        plate text, camera_id text, latitude double, longitude double,
        confidence float, expires_at timestamp,
        PRIMARY KEY ((agency_ori, day), collected_at, read_id)
    ) WITH CLUSTERING ORDER BY (collected_at DESC, read_id DESC) AND """
    + _TTL,
    # The plate region of a server-side OCR read (image_ref "crop:<read_id>"), expiring
    # with the read. Reads on Kafka stay small: the JPEG only ever lives here.
    """CREATE TABLE IF NOT EXISTS {ks}.plate_crops (
        read_id text PRIMARY KEY, agency_ori text, camera_id text,
        collected_at timestamp, expires_at timestamp, jpeg blob
    ) WITH """
    + _TTL,
]

SCHEMA_CQL += IDENTITY_CQL
# The camera registry (13.824 subd. 8): cameras, never reads, so no TTL.
SCHEMA_CQL += [statement + _FLUSH for statement in REGISTRY_CQL]

TABLES = frozenset(statement.split(".", 1)[1].split(maxsplit=1)[0] for statement in SCHEMA_CQL)

# Columns added after a table first shipped: CREATE TABLE IF NOT EXISTS leaves an older
# table as it was, so they are added here when missing.
ADDED_COLUMNS = {
    "reads_by_plate": {"duplicates": "int"},
    "hits_by_agency": {
        "disposition": "text", "disposition_by": "text", "disposition_agency": "text",
        "disposition_at": "timestamp", "disposition_note": "text",
        "needs_verification": "boolean",
    },
    "people": {
        "sessions_valid_from": "timestamp", "must_change_password": "boolean",
        "session_kept": "text",
    },
}  # fmt: skip

_COLUMNS_OF_TABLE = (
    "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?"
)


def keyspace_name(name: str) -> str:
    """``name``, checked: the keyspace is spliced into CQL text, so only a plain
    identifier will do."""
    if not _IDENTIFIER.fullmatch(name):
        raise ConfigurationError(f"keyspace {name!r} is not a plain CQL identifier")
    return name


def ensure_schema(session: Session, config: CassandraConfig) -> None:
    """Create the keyspace and tables if missing, add missing columns, and bring the
    keyspace's replication and the TTL tables' options in line (idempotent)."""
    ks = keyspace_name(config.cassandra_keyspace)
    replication = cql_map(keyspace_replication(config))
    ttl_options = ttl_table_options(config)
    with map_exceptions("schema change"):
        session.execute(f"CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {replication}")
        align_keyspace(session, ks, config)
        for statement in SCHEMA_CQL:
            session.execute(
                statement.replace("{ks}", ks)
                .replace(_TTL, ttl_options)
                .replace(_FLUSH, flush_options(config))
            )
        _add_missing_columns(session, ks)
        altered = align_tables(session, ks, config, TABLES)
    if altered:
        log.info("keyspace %s: retention options set on %s", ks, altered)


def _add_missing_columns(session: Session, ks: str) -> None:
    columns_of_table = session.prepare(_COLUMNS_OF_TABLE)
    for table, columns in ADDED_COLUMNS.items():
        present = {row[0] for row in session.execute(columns_of_table, (ks, table))}
        for name, cql_type in columns.items():
            if name not in present:
                session.execute(f"ALTER TABLE {ks}.{table} ADD {name} {cql_type}")
