"""Cassandra roles of lprx and what each may do, per keyspace (``lprx setup``).

=============  =======================================================================
lprx_admin     superuser, owns the schema (created at the server's first start)
lprx_writer    SELECT and MODIFY on the data tables; MODIFY on the audit tables
               (audit_events, audit_chain, audit_chain_events), where the append-only
               trigger lets it insert new rows and nothing else; SELECT and MODIFY on
               audit_chain_heads (moved by compare-and-set) and SELECT on
               audit_chain_events; it reads no audit event and writes no checkpoint
lprx_reader    SELECT on the data and audit tables (audited look-ups); writes nothing.
               Its accesses reach the audit trail through the audit topic, chained by
               the store
lprx_api       SELECT on the data and audit tables; SELECT and MODIFY on the identity
               tables (people, sessions, failed logins: connectors/cassandra/identity.py),
               which no other service role may read; MODIFY on the camera registry
               (cameras, camera_locations, bca_notices: an administrator's change; no
               worker writes them)
lprx_custodian SELECT and MODIFY on the hold tables and on the tables holding a copy of
               a read (the read, its spelling row, crop and hits): a hold rewrites their
               TTLs (connectors/cassandra/holds.py). Nothing else: no audit, identity,
               hotlist or agreement table. The API's hold routes use it, on their own
               session, once the supervisor's role is checked
lprx_checkpoint ``lprx audit checkpoint`` (the daily CronJob): SELECT on
               audit_chain_heads, SELECT and MODIFY on audit_checkpoints (append-only by
               the trigger: it adds a checkpoint, never changes one). No audit event,
               link, read, identity or any other table
=============  =======================================================================

Cassandra's MODIFY covers INSERT, UPDATE, DELETE and TRUNCATE alike, so the audit tables
are guarded twice more: the trigger ``lprx.cassandra.AppendOnly`` (Java, compiled into the
server's triggers folder by connectors/servers) refuses every delete, update, TTL and
overwrite of an existing row, for every role; and the guardrail
``drop_truncate_table_enabled: false`` refuses TRUNCATE and DROP TABLE to every role that
is not a superuser. Only a superuser can drop the trigger; what a superuser changes
anyway, the hash chain and its signed checkpoints show (``lprx audit verify``).
"""

from __future__ import annotations

import re

from cassandra.cluster import Session

from connectors.cassandra.cameras import REGISTRY_TABLES
from connectors.cassandra.config import CassandraConfig
from connectors.cassandra.identity import IDENTITY_TABLES
from connectors.cassandra.security import (
    API_ROLE,
    CHECKPOINT_ROLE,
    CUSTODIAN_ROLE,
    READER_ROLE,
    WRITER_ROLE,
    password_file,
)
from connectors.security.files import ensure_password
from schemas.errors import ConfigurationError

AUDIT_TABLE = "audit_events"
# Append-only by the trigger: rows are inserted, never changed or removed.
APPEND_ONLY_TABLES = (AUDIT_TABLE, "audit_chain", "audit_chain_events", "audit_checkpoints")
# The writer's on the audit side: (table, permissions).
WRITER_AUDIT_GRANTS = (
    (AUDIT_TABLE, ("MODIFY",)),
    ("audit_chain", ("MODIFY",)),
    ("audit_chain_events", ("SELECT", "MODIFY")),
    ("audit_chain_heads", ("SELECT", "MODIFY")),
)
AUDIT_TABLES = frozenset(APPEND_ONLY_TABLES) | {"audit_chain_heads"}
# The checkpoint signer's: the heads it signs, the checkpoints it adds (and reads, so a
# head already signed is not signed twice).
CHECKPOINT_GRANTS = (
    ("audit_chain_heads", ("SELECT",)),
    ("audit_checkpoints", ("SELECT", "MODIFY")),
)
TRIGGER_CLASS = "lprx.cassandra.AppendOnly"
TRIGGER_NAME = "audit_append_only"
SERVICE_ROLES = (WRITER_ROLE, READER_ROLE, API_ROLE, CUSTODIAN_ROLE, CHECKPOINT_ROLE)
# What a hold rewrites (holds.py): its own tables, and every table with a copy of a read.
CUSTODIAN_TABLES = frozenset({
    "holds", "held_reads", "read_holds", "reads_by_plate", "reads_by_agency_day",
    "plates_by_folded_plate", "plate_crops", "hits_by_agency", "hits_by_id",
})  # fmt: skip
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,47}")


def _name(value: str) -> str:
    # Spliced into CQL text: only a plain identifier will do.
    if not _IDENTIFIER.fullmatch(value):
        raise ConfigurationError(f"{value!r} is not a plain CQL identifier")
    return value


def ensure_login_role(
    session: Session, config: CassandraConfig, role: str, *, superuser: bool = False
) -> None:
    """``role`` can log in with the password of its file (generated once). An existing
    role keeps its password unless its file is new (Cassandra allows one password change
    per role every few seconds, so it is never set needlessly)."""
    file = password_file(config, role)
    had_file = file.exists()
    secret = ensure_password(file).get_secret_value()
    name = _name(role)
    exists = session.execute("SELECT role FROM system_auth.roles WHERE role = %s", (name,)).one()
    # Passwords are URL-safe base64 (files.py): nothing to escape in a CQL literal.
    if exists is None:
        flag = str(superuser).lower()
        session.execute(
            f"CREATE ROLE IF NOT EXISTS {name} WITH PASSWORD = '{secret}' AND LOGIN = true "
            f"AND SUPERUSER = {flag}"
        )
    elif not had_file:
        session.execute(f"ALTER ROLE {name} WITH PASSWORD = '{secret}'")


def ensure_service_roles(session: Session, config: CassandraConfig) -> None:
    for role in SERVICE_ROLES:
        ensure_login_role(session, config, role)


def secure_keyspace(session: Session, keyspace: str) -> None:
    """The audit tables' append-only trigger, and each service role's grants (idempotent;
    run by the schema owner after the tables exist)."""
    ks = _name(keyspace)
    for table in APPEND_ONLY_TABLES:
        # The first table keeps the trigger's historical name, the others add theirs.
        trigger = TRIGGER_NAME if table == AUDIT_TABLE else f"{table}_append_only"
        session.execute(
            f"CREATE TRIGGER IF NOT EXISTS {trigger} ON {ks}.{table} USING '{TRIGGER_CLASS}'"
        )
    tables = [
        row.table_name
        for row in session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (ks,)
        )
    ]
    wanted: list[tuple[str, str, str]] = []  # (permission, resource, role)
    for table in tables:
        resource = f"data/{ks}/{_name(table)}"
        if table in IDENTITY_TABLES:
            wanted += [(p, resource, API_ROLE) for p in ("SELECT", "MODIFY")]
            continue
        wanted += [("SELECT", resource, role) for role in (READER_ROLE, API_ROLE)]
        if table in REGISTRY_TABLES:  # an administrator's change, through the API only
            wanted.append(("MODIFY", resource, API_ROLE))
            continue
        if table not in AUDIT_TABLES:
            wanted += [(p, resource, WRITER_ROLE) for p in ("SELECT", "MODIFY")]
        if table in CUSTODIAN_TABLES:
            wanted += [(p, resource, CUSTODIAN_ROLE) for p in ("SELECT", "MODIFY")]
    for table, permissions in WRITER_AUDIT_GRANTS:
        wanted += [(p, f"data/{ks}/{table}", WRITER_ROLE) for p in permissions]
    for table, permissions in CHECKPOINT_GRANTS:
        wanted += [(p, f"data/{ks}/{table}", CHECKPOINT_ROLE) for p in permissions]
    # Earlier setups granted the reader the whole keyspace, identity tables included.
    if "SELECT" in _granted(session, READER_ROLE, f"data/{ks}"):
        session.execute(f"REVOKE SELECT ON KEYSPACE {ks} FROM {READER_ROLE}")
    for permission, resource, role in wanted:
        if permission not in _granted(session, role, resource):
            session.execute(f"GRANT {permission} ON {_on(resource)} TO {role}")
    # Earlier versions let the reader insert audit rows: it no longer writes any.
    reader_audit = f"data/{ks}/{AUDIT_TABLE}"
    if "MODIFY" in _granted(session, READER_ROLE, reader_audit):
        session.execute(f"REVOKE MODIFY ON {_on(reader_audit)} FROM {READER_ROLE}")


def _on(resource: str) -> str:
    on = "KEYSPACE" if resource.count("/") == 1 else "TABLE"
    return f"{on} {resource.removeprefix('data/').replace('/', '.')}"


def _granted(session: Session, role: str, resource: str) -> set[str]:
    # Asked first, so a second setup grants nothing twice (and draws no server warning).
    row = session.execute(
        "SELECT permissions FROM system_auth.role_permissions WHERE role = %s AND resource = %s",
        (role, resource),
    ).one()
    return set(row.permissions) if row is not None and row.permissions else set()
