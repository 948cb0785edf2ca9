"""Where the local Kafka, Cassandra (and, when asked for, Keycloak) servers live and
which ports they take."""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict, Field

from connectors.cassandra.config import CassandraConfig
from connectors.kafka.config import KafkaConfig
from connectors.security.config import REPO_ROOT

__all__ = ["REPO_ROOT", "ServersConfig"]


class ServersConfig(KafkaConfig, CassandraConfig):
    model_config = ConfigDict(frozen=True)

    kafka_controller_port: int = 9093
    kafka_heap: str = Field(default="512m", description="The local broker's JVM heap (-Xmx).")
    cassandra_heap: str = Field(default="1g", description="The local Cassandra's JVM heap.")
    keycloak_port: int = Field(
        default=8643,
        description="HTTPS port of the local Keycloak (an agency identity provider for "
        "tests and the demo; started only by `lprx services up keycloak`).",
    )
    keycloak_heap: str = Field(default="512m", description="The local Keycloak's JVM heap.")

    @property
    def servers_dir(self) -> Path:
        return self.cache_dir / "servers"
