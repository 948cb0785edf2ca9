"""Where the Cassandra store is and how lprx logs in to it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr


class CassandraConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    cassandra_contact_points: list[str] = ["127.0.0.1"]
    cassandra_port: int = 9042
    cassandra_storage_port: int = 7000
    cassandra_keyspace: str = "lprx"
    cassandra_username: str | None = None
    cassandra_password: SecretStr | None = None
    cassandra_write_concurrency: int = 64
