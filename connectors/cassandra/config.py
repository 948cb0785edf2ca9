"""Where the Cassandra store is and how lprx logs in to it (TLS, a role and its password)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict, Field, SecretStr

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
    cassandra_replication_factor: int = Field(
        default=1,
        ge=1,
        description="Replicas of the keyspace `lprx setup` creates (3 in production).",
    )
    cassandra_datacenter: str | None = Field(
        default=None,
        description="When set, the keyspace is created with NetworkTopologyStrategy, "
        "cassandra_replication_factor replicas in this datacenter.",
    )
    cassandra_write_concurrency: int = 64
