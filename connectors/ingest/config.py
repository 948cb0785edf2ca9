"""The HTTP ingest's own settings: its address, camera tokens, body and upload limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict, Field, SecretStr

from connectors.cameras.config import FramesConfig
from connectors.kafka.config import KafkaConfig


class IngestConfig(KafkaConfig, FramesConfig):
    model_config = ConfigDict(frozen=True)

    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8080
    ingest_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Legacy: a bearer token per agency ORI, for any camera of the agency "
        "(the camera id then comes from the body). Prefer per-camera credentials.",
    )
    ingest_credentials_file: Path | None = Field(
        default=None,
        description="Per-camera credentials (SHA-256 hashes; `lprx cameras add`), re-read "
        "when changed; default <cache_dir>/secrets/cameras.json.",
    )
    ingest_max_body_bytes: int = 8 * 1024 * 1024
    ingest_ack_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a post waits for Kafka to acknowledge its reads before "
        "answering 503 with Retry-After.",
    )
    upload_max_bytes: int = Field(
        default=200 * 1024 * 1024,
        gt=0,
        description="Largest partner video POST /v1/uploads accepts (streamed to a file).",
    )
    upload_dir: Path | None = Field(
        default=None,
        description="Where uploads wait while they are read (default: the system temp "
        "folder); needs room for a few uploads of upload_max_bytes, on disk, not in memory.",
    )
    upload_max_fps: float = Field(
        default=2.0, gt=0, description="Frames a second of video sampled from an upload."
    )
    upload_max_frames: int = Field(
        default=3600, ge=1, description="Most frames one upload sends (bounds its work)."
    )
    upload_motion: bool = Field(
        default=True, description="Motion-gate uploads: still stretches send nothing."
    )

    @property
    def camera_credentials_path(self) -> Path:
        return self.ingest_credentials_file or self.secrets_dir / "cameras.json"
