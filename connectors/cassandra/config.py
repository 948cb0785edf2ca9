"""Where the Cassandra store is and how lprx logs in to it (TLS, a role and its password)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ConfigDict, Field, SecretStr, field_validator

from connectors.security.config import SecretsConfig


class CassandraConfig(SecretsConfig):
    model_config = ConfigDict(frozen=True)

    cassandra_contact_points: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    cassandra_port: int = 9042
    cassandra_storage_port: int = 7000
    cassandra_keyspace: str = "lprx"
    cassandra_username: str | None = Field(
        default=None,
        description="The role this process logs in as; unset, each command uses its own "
        "(setup: lprx_admin, worker: lprx_writer, look-ups: lprx_reader).",
    )
    cassandra_password: SecretStr | None = Field(
        default=None, description="The role's password; prefer cassandra_password_file."
    )
    cassandra_password_file: Path | None = Field(
        default=None,
        description="File (0600) holding the role's password; default "
        "<cache_dir>/secrets/cassandra/<role>.password.",
    )
    cassandra_tls: bool = Field(
        default=True, description="Client TLS to Cassandra (the local server serves only TLS)."
    )
    cassandra_ca_file: Path | None = Field(
        default=None,
        description="CA certificate Cassandra's certificate must chain to; default the "
        "lprx CA, <cache_dir>/secrets/tls/ca.pem.",
    )
    cassandra_write_concurrency: int = 64
    cassandra_replication: dict[str, int] = Field(
        default_factory=dict,
        description='Replicas of the keyspace per data centre, e.g. {"dc1": 3}: '
        "NetworkTopologyStrategy (production). Empty: SimpleStrategy with one replica "
        "(a single local node). Setup alters an existing keyspace to match; run a full "
        "repair after raising it.",
    )
    cassandra_gc_grace_seconds: int = Field(
        default=3 * 3600,
        ge=0,
        description="gc_grace_seconds of the tables whose rows expire by TTL: how long an "
        "expired cell may stay on disk before compaction drops it. Those tables have no "
        "deletes, so no tombstone must reach a replica first; 3 h keeps hints (which live "
        "no longer than this) as long as Cassandra's default hint window.",
    )
    cassandra_flush_period_seconds: int = Field(
        default=3600,
        ge=1,
        description="Memtables of the TTL tables are flushed at least this often, and "
        "each flush lets compaction look for expired data.",
    )
    cassandra_tombstone_compaction_interval_seconds: int = Field(
        default=12 * 3600,
        ge=1,
        description="An SSTable this old that holds any expired cell past "
        "gc_grace_seconds is rewritten without it (tombstone compaction).",
    )

    @field_validator("cassandra_replication")
    @classmethod
    def _plain_data_centres(cls, value: dict[str, int]) -> dict[str, int]:
        # Data centre names are spliced into CQL text.
        for dc, replicas in value.items():
            if not _DATA_CENTRE.fullmatch(dc) or replicas < 1:
                raise ValueError(f"{dc!r}: {replicas} is not a data centre name and replicas")
        return value


_DATA_CENTRE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
