"""Where the local Kafka and Cassandra servers live and which ports they take."""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict, Field

from connectors.cassandra.config import CassandraConfig
from connectors.kafka.config import KafkaConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


class ServersConfig(KafkaConfig, CassandraConfig):
    model_config = ConfigDict(frozen=True)

    cache_dir: Path = Field(
        default=REPO_ROOT / ".cache",
        description="Git-ignored folder for server jars, data, logs and OCR models.",
    )
    kafka_controller_port: int = 9093

    @property
    def servers_dir(self) -> Path:
        return self.cache_dir / "servers"
