"""The one settings model of lprx.

Every knob is read from the environment with the ``LPRX_`` prefix (or a ``.env`` file),
so workers, connectors, the CLI and tests share one definition. Secrets are
``SecretStr`` and never appear when the settings are printed or logged.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LPRX_", env_file=".env", extra="ignore", frozen=True
    )

    # --- where things live -------------------------------------------------------
    cache_dir: Path = Field(
        default=REPO_ROOT / ".cache",
        description="Git-ignored folder for server jars, data, logs and OCR models.",
    )

    # --- Kafka ------------------------------------------------------------------
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_controller_port: int = 9093
    topic_prefix: str = Field(
        default="lprx", description="Every topic lprx creates starts with this prefix."
    )
    topic_partitions: int = 3
    schema_registry_url: str | None = Field(
        default=None,
        description="When set, records use the Confluent wire format with this registry; "
        "otherwise Avro single-object encoding.",
    )

    # --- Cassandra --------------------------------------------------------------
    cassandra_contact_points: list[str] = ["127.0.0.1"]
    cassandra_port: int = 9042
    cassandra_storage_port: int = 7000
    cassandra_keyspace: str = "lprx"
    cassandra_username: str | None = None
    cassandra_password: SecretStr | None = None
    cassandra_write_concurrency: int = 64

    # --- law and policy ---------------------------------------------------------
    retention_days: int = Field(
        default=60,
        description="Days a read not under investigative hold is kept after collection "
        "(Minnesota Statutes 13.824 subd. 3).",
    )
    retention_days_by_agency: dict[str, int] = Field(
        default_factory=dict,
        description="Per-jurisdiction retention in days, keyed by agency ORI.",
    )
    dedup_window_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Reads of one camera, alike and this close (camera time), are one "
        "vehicle pass; dedup sends one read per pass.",
    )
    dedup_sites: dict[str, str] = Field(
        default_factory=dict,
        description="Cameras that watch one place, camera id -> site id: dedup folds "
        "their reads as one camera's. Reads are keyed by site, so a site meets in one "
        "partition.",
    )
    dedup_settle_seconds: float = Field(
        default=2.0,
        ge=0,
        description="A new pass is held this long (worker time) and its best read by "
        "score is sent; 0 sends its first read at once. Adds this much to hit latency.",
    )
    dedup_weight_confidence: float = Field(
        default=1.0, ge=0, description="Score weight of the read's confidence (0-100 as 0-1)."
    )
    dedup_weight_fits_format: float = Field(
        default=0.5, ge=0, description="Score weight of a plate that fits its state's format."
    )
    dedup_weight_region: float = Field(
        default=0.25, ge=0, description="Score weight of the state's recognition confidence."
    )
    dedup_weight_frames: float = Field(
        default=0.25, ge=0, description="Score weight of frames fused into the read (up to 5)."
    )
    hit_suppression_seconds: float = Field(
        default=600.0,
        description="A repeat hit of one plate on one entry within this is stored and "
        "counted but not re-alerted.",
    )

    # --- OCR --------------------------------------------------------------------
    ocr_max_pixels: int = Field(
        default=4096 * 4096, description="Frames larger than this are refused."
    )
    ocr_min_confidence: float = 0.5
    ocr_backend: Literal["onnx", "paddle"] = Field(
        default="onnx",
        description="Model runtime of the OCR stage: ONNX Runtime, or Paddle Inference.",
    )
    ocr_fusion_window_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Frame reads of one camera this close (camera time) and alike are one "
        "vehicle; a camera quiet this long (worker time) closes its vehicle.",
    )
    ocr_fusion_min_agreeing: int = Field(
        default=1,
        ge=1,
        description="Frames of a vehicle that must read its fused plate exactly before "
        "the read counts (1: a single frame of a slow camera counts).",
    )

    # --- HTTP ingest ------------------------------------------------------------
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8080
    ingest_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Bearer token per agency ORI; a camera may only post reads of its "
        "own agency. Empty means ingest refuses every request.",
    )
    ingest_max_body_bytes: int = 8 * 1024 * 1024
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
        default=True, description="Motion-gate uploads: still stretches of a video send nothing."
    )

    # --- workers ------------------------------------------------------------------
    worker_stages: list[str] = Field(
        default=["ocr", "normalize", "match", "share", "store"],
        description="Which stages this worker runs.",
    )
    worker_id: str = "lprx-pipeline"
    table_store: str = Field(
        default="rocksdb://", description="Faust table store (rocksdb:// or memory://)."
    )
    table_data_dir: Path | None = Field(
        default=None,
        description="Faust's local table data, a folder per app; default <cache_dir>/faust.",
    )
    metrics_port: int = 6066
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address /metrics listens on; 0.0.0.0 in a pod so Prometheus can scrape.",
    )
    store_batch_size: int = 500
    store_batch_seconds: float = 0.5
    # The match stage looks reads up in batches (one vectorised hotlist probe each);
    # a batch waits at most this long, so a lone read is matched within it.
    match_max_edit_distance: Literal[0, 1] = Field(
        default=1,
        description="Edits (insert, delete, substitute) a read may differ from an entry by "
        "and still hit; 0 = exact and confusable matches only.",
    )
    match_fuzzy_min_length: int = Field(
        default=5,
        ge=1,
        description="Plates shorter than this hit only exactly or by confusables (a short "
        "plate is one edit from too many others).",
    )
    match_batch_size: int = Field(default=256, ge=1)
    match_batch_seconds: float = Field(default=0.01, gt=0)

    def retention_for(self, agency_ori: str) -> int:
        return self.retention_days_by_agency.get(agency_ori, self.retention_days)

    def dedup_group(self, camera_id: str) -> str:
        """The camera's site if it has one, else the camera: the key of its raw reads."""
        return self.dedup_sites.get(camera_id, camera_id)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"

    def partner_hits_topic(self, agency_ori: str) -> str:
        return self.topic(f"hits.{agency_ori}")

    @property
    def servers_dir(self) -> Path:
        return self.cache_dir / "servers"

    @property
    def models_dir(self) -> Path:
        return self.cache_dir / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
