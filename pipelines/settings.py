"""The one settings model of lprx.

Every knob is read from the environment with the ``LPRX_`` prefix (or a ``.env`` file),
so workers, connectors, the CLI and tests share one definition. Secrets are
``SecretStr`` and never appear when the settings are printed or logged.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.identity.config import OidcConfig
from connectors.ingest.config import IngestConfig
from connectors.servers.config import REPO_ROOT, ServersConfig
from pipelines.identity.config import ApiConfig
from schemas.hotlist_policy import JurisdictionPolicy

__all__ = ["REPO_ROOT", "Settings", "get_settings"]


class Settings(BaseSettings, ServersConfig, IngestConfig, OidcConfig, ApiConfig):
    """The connectors' own configs (Kafka, Cassandra, servers, ingest, frames, retention)
    composed (and the agency identity provider's, OIDC), plus what only the pipeline's
    stages and workers need."""

    model_config = SettingsConfigDict(
        env_prefix="LPRX_", env_file=".env", extra="ignore", frozen=True
    )

    # --- law and policy ---------------------------------------------------------
    dedup_window_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Reads of one camera, alike and this close (camera time), are one "
        "vehicle pass; dedup sends one read per pass.",
    )
    dedup_settle_seconds: float = Field(
        default=2.0,
        ge=0,
        description="A new pass is held this long (worker time) and its best read by "
        "score is stored; 0 stores its first read at once. Hits do not wait for it: "
        "every read is matched as it is normalised.",
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
    hotlist_snapshot_max_retract_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="A hotlist snapshot may retract at most this share of the live list "
        "(a file that parsed to few entries, say a wrong --format); more needs --force.",
    )
    jurisdiction_policies: dict[str, JurisdictionPolicy] = Field(
        default_factory=dict,
        description="What a state's law (key: its two letters) or one agency's rule (key: "
        "its ORI) excludes: NCIC files and purposes never matched, and receiving "
        "jurisdictions (ORI prefixes) never shared with, e.g. "
        '{"MN": {"excluded_ncic_files": ["immigration_violator"], '
        '"barred_purposes": ["immigration_enforcement"]}} (schemas/hotlist_policy.py).',
    )
    hit_suppression_seconds: float = Field(
        default=600.0,
        description="A repeat hit of one plate on one entry within this is stored and "
        "counted but not re-alerted.",
    )

    # --- audit trail --------------------------------------------------------------
    audit_signing_key_required: bool = Field(
        default=False,
        description="`lprx audit checkpoint` fails when the checkpoint signing key "
        "(<secrets>/audit/checkpoint-signing.key) is missing, instead of making one: set "
        "where the key is mounted from a Secret (the Helm chart), so a lost mount never "
        "signs with a key no verifier has.",
    )

    # --- OCR --------------------------------------------------------------------
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
    ocr_second_opinion_always: bool = Field(
        default=False,
        description="Ask the second recogniser about every read, not only those its "
        "answer could move across ocr_min_confidence or the alert threshold: the same "
        "decisions, a confidence that uses the answer on every read (held out, Brier "
        "0.030 instead of 0.033), one more recognition call on most frames (~15 ms CPU).",
    )
    ocr_second_look: bool = Field(
        default=True,
        description="A frame read under the alert threshold is looked at again with the "
        "text detector at 1600 px: more plates read, about twice the time on such frames.",
    )

    # --- workers ------------------------------------------------------------------
    worker_stages: list[str] = Field(
        default=["ocr", "normalize", "match", "share", "store"],
        description="Which stages this worker runs.",
    )
    worker_event_loop: Literal["asyncio", "uvloop"] = Field(
        default="uvloop",
        description="The worker's event loop: uvloop (the loop in C) or Python's own.",
    )
    worker_gc_thresholds: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        default=(20000, 20, 20),
        description="The garbage collector's thresholds in a worker (gc.set_threshold): "
        "young objects allocated before a young collection, and young (then middle) "
        "collections before the next generation's.",
    )
    table_store: str = Field(
        default="rocksdb://", description="Faust table store (rocksdb:// or memory://)."
    )
    table_data_dir: Path | None = Field(
        default=None,
        description="Faust's local table data, a folder per app; default <cache_dir>/faust.",
    )
    table_purge_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often a worker flushes and compacts its local tables, so a "
        "deleted entry leaves its disk, and removes those of partitions served elsewhere.",
    )
    metrics_port: int = 6066
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address /metrics listens on; 0.0.0.0 in a pod so Prometheus can scrape.",
    )
    store_batch_size: int = 500
    store_batch_seconds: float = 0.5
    store_batches_in_flight: int = Field(
        default=3,
        ge=1,
        description="Batches of reads the store stage writes at once, each committed in "
        "order once stored; hits and audit events go one batch at a time.",
    )
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
    # Raw reads are normalised and folded in batches too: one lock, one acknowledged
    # send and one table write per camera for the batch. A lone read waits this long.
    normalize_batch_size: int = Field(default=256, ge=1)
    normalize_batch_seconds: float = Field(default=0.01, gt=0)
    worker_producer_buffer_messages: int = Field(
        default=10_000,
        ge=1,
        description="Table writes (changelog records) that may wait in a worker's Faust "
        "producer buffer before Faust stops delivering records to every agent until it "
        "drains (Faust's own limit is 100). Dedup's writes are bounded already: a batch "
        "is acknowledged only once its changelog records are, and reads wait to be "
        "folded only up to normalize_folds_in_flight batches.",
    )
    normalize_folds_in_flight: int = Field(
        default=4,
        ge=1,
        description="Batches' worth (normalize_batch_size each) of raw reads that may "
        "wait to be folded into passes while normalising and matching (hits sent) go on; "
        "those waiting are folded together, in order, and committed once folded.",
    )

    @property
    def models_dir(self) -> Path:
        return self.cache_dir / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
