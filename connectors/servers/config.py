"""Where the local Kafka and Cassandra servers live and which ports they take."""

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

    @property
    def servers_dir(self) -> Path:
        return self.cache_dir / "servers"
