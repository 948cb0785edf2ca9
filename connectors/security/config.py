"""Where the git-ignored cache (server jars, data, OCR models, secrets) lives."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

REPO_ROOT = Path(__file__).resolve().parents[2]


class SecretsConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    cache_dir: Path = Field(
        default=REPO_ROOT / ".cache",
        description="Git-ignored folder for server jars, data, logs, OCR models and secrets.",
    )

    @property
    def secrets_dir(self) -> Path:
        return self.cache_dir / "secrets"

    @property
    def tls_dir(self) -> Path:
        return self.secrets_dir / "tls"

    @property
    def default_ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"
