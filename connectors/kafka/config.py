"""What a Kafka client of lprx needs to know: where the brokers are, how topics are
named and partitioned, how records are encoded, and how long topics may keep reads."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, SecretStr

from connectors.security.config import SecretsConfig
from schemas.keys import dedup_group
from schemas.retention import RetentionPolicy


class KafkaConfig(RetentionPolicy, SecretsConfig):
    model_config = ConfigDict(frozen=True)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["SASL_SSL", "PLAINTEXT"] = Field(
        default="SASL_SSL",
        description="SASL/SCRAM-SHA-512 over TLS (the local broker serves nothing else); "
        "PLAINTEXT only for a broker outside lprx that has no security at all.",
    )
    kafka_principal: str | None = Field(
        default=None,
        description="The SCRAM user this process logs in as; unset, each command uses its "
        "own (setup: lprx-admin, worker: lprx-worker, ingest: lprx-ingest, ...).",
    )
    kafka_password: SecretStr | None = Field(
        default=None, description="The principal's password; prefer kafka_password_file."
    )
    kafka_password_file: Path | None = Field(
        default=None,
        description="File (0600) holding the principal's password; default "
        "<cache_dir>/secrets/kafka/<principal>.password.",
    )
    kafka_ca_file: Path | None = Field(
        default=None,
        description="CA certificate the broker's certificate must chain to; default "
        "<cache_dir>/secrets/tls/ca.pem (the lprx CA).",
    )
    topic_prefix: str = Field(
        default="lprx", description="Every topic lprx creates starts with this prefix."
    )
    topic_partitions: int = 3
    topic_replication_factor: int = Field(
        default=1, ge=1, description="Replicas of each topic lprx creates (3 in production)."
    )
    topic_min_insync_replicas: int = Field(
        default=1, ge=1, description="Replicas that must have a record before it is acknowledged."
    )
    topic_read_retention_hours: float = Field(
        default=24.0,
        gt=0,
        description="Hours a topic that carries reads (reads, hits, frames, dead letters, "
        "partner topics) keeps a record after it arrived; Cassandra is the store. Bounds "
        "how long a topic copy of a read outlives its destruction date.",
    )
    schema_registry_url: str | None = Field(
        default=None,
        description="When set, records use the Confluent wire format with this registry; "
        "otherwise Avro single-object encoding.",
    )
    dedup_sites: dict[str, str] = Field(
        default_factory=dict,
        description="Cameras that watch one place, camera id -> site id: dedup folds "
        "their reads as one camera's. Raw reads are keyed by site, so a site meets in one "
        "partition.",
    )
    worker_id: str = Field(
        default="lprx-pipeline", description="Prefix of this process's Kafka client ids."
    )

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"

    def partner_hits_topic(self, agency_ori: str) -> str:
        return self.topic(f"hits.{agency_ori}")

    def dedup_group(self, camera_id: str) -> str:
        """The camera's site if it has one, else the camera: the key of its raw reads."""
        return dedup_group(camera_id, self.dedup_sites)
