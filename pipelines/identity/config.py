"""The identity and API settings (``LPRX_API_*``), composed into ``pipelines.settings``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ApiConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    api_host: str = "127.0.0.1"
    api_port: int = 8443
    api_tls: bool = Field(
        default=True,
        description="Serve HTTPS with a certificate of the lprx CA (<cache>/secrets/tls).",
    )
    api_tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate chain to serve instead of one of the lprx CA (with "
        "api_tls_key_file; e.g. a Kubernetes TLS Secret); unset, the lprx CA makes one.",
    )
    api_tls_key_file: Path | None = Field(
        default=None, description="The private key of api_tls_cert_file (PEM, 0600)."
    )
    api_url: str | None = Field(
        default=None,
        description="Where the CLI reaches the API; default https://127.0.0.1:<api_port>.",
    )
    api_consortium_ori: str = Field(
        default="LPRX00000",
        description="The agency id the consortium's operators belong to (no reads).",
    )
    api_session_idle_minutes: float = Field(
        default=30, gt=0, description="A session unused this long ends (CJIS AC-11)."
    )
    api_session_absolute_hours: float = Field(
        default=12, gt=0, description="A session ends this long after login whatever its use."
    )
    api_lockout_failures: int = Field(
        default=5, ge=1, description="Failed logins within the window that lock an account."
    )
    api_lockout_minutes: float = Field(
        default=15, gt=0, description="The lockout window (CJIS AC-7: 5 in 15 minutes)."
    )
    api_account_max_unused_days: int = Field(
        default=90, ge=1, description="An account unused this long is disabled (CJIS AC-2)."
    )
    api_password_min_length: int = Field(default=12, ge=8)
    api_search_max_days: int = Field(
        default=31, ge=1, description="The longest time window one search may cover."
    )
    api_search_max_page: int = Field(default=500, ge=1, description="Most results per page.")
    api_search_max_scanned: int = Field(
        default=50_000,
        ge=1,
        description="Most stored reads one page of a partial-plate or area search reads "
        "before it answers with what it found (and says so).",
    )
