"""`lprx cameras add|rotate|revoke|list`: per-camera ingest credentials.

A token is shown once (or written 0600 to ``--token-file``) and never stored: the
credentials file keeps its argon2id hash. Running ingest processes pick changes up
within seconds, without a restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from connectors.ingest.credentials import DEFAULT_RATE_PER_MINUTE, CredentialFile
from connectors.security.files import write_secret
from pipelines.settings import get_settings
from schemas.errors import ConfigurationError
from schemas.records import CameraKind

app = typer.Typer(no_args_is_help=True)
console = Console()

AgencyOption = Annotated[str, typer.Option(help="ORI of the agency that owns the camera.")]
CameraOption = Annotated[str, typer.Option(help="The camera's id, as its reads name it.")]
TokenFile = Annotated[
    Path | None, typer.Option(help="Write the token to this file (0600) instead of showing it.")
]


def _file() -> CredentialFile:
    return CredentialFile(get_settings().camera_credentials_path)


def _hand_over(token: str, token_file: Path | None, what: str) -> None:
    if token_file is not None:
        write_secret(token_file, token + "\n")
        console.print(f"{what}: token written to {token_file}")
        return
    console.print(f"{what}: token (shown once, not stored; give it to the camera):")
    console.print(token, soft_wrap=True, highlight=False)


def _fail(error: ConfigurationError) -> typer.Exit:
    console.print(f"[red]error:[/red] {error}")
    return typer.Exit(1)


@app.command("add")
def add(
    agency: AgencyOption,
    camera: CameraOption,
    kind: CameraKind = CameraKind.FIXED,
    rate: Annotated[int, typer.Option(help="Requests a minute.")] = DEFAULT_RATE_PER_MINUTE,
    owner: Annotated[str | None, typer.Option(help="A partner uploader's owner.")] = None,
    consent_ref: Annotated[
        str | None, typer.Option(help="A partner uploader's consent reference.")
    ] = None,
    token_file: TokenFile = None,
) -> None:
    """A credential for one camera (or, with --owner and --consent-ref, a partner's
    video uploader): bound to the agency, camera id and kind."""
    try:
        token = _file().add(
            agency, camera, kind, rate_per_minute=rate, owner=owner, consent_ref=consent_ref
        )
    except ConfigurationError as error:
        raise _fail(error) from error
    _hand_over(token, token_file, f"camera {camera} of {agency}")


@app.command("rotate")
def rotate(agency: AgencyOption, camera: CameraOption, token_file: TokenFile = None) -> None:
    """A new token for the camera; the old one stops working within seconds."""
    try:
        token = _file().rotate(agency, camera)
    except ConfigurationError as error:
        raise _fail(error) from error
    _hand_over(token, token_file, f"camera {camera} of {agency} (rotated)")


@app.command("revoke")
def revoke(agency: AgencyOption, camera: CameraOption) -> None:
    """The camera's token stops working within seconds (kept as revoked, for audit)."""
    try:
        _file().revoke(agency, camera)
    except ConfigurationError as error:
        raise _fail(error) from error
    console.print(f"camera {camera} of {agency}: credential revoked")


@app.command("list")
def list_cameras() -> None:
    """Every credential (never its secret)."""
    table = Table("agency", "camera", "kind", "uploader", "rate/min", "created", "state")
    for c in sorted(_file().load().values(), key=lambda c: (c.agency_ori, c.camera_id)):
        state = "active" if c.active else f"revoked {c.revoked_at:%Y-%m-%d %H:%M}"
        uploader = f"{c.owner} ({c.consent_ref})" if c.uploader else "-"
        table.add_row(
            c.agency_ori, c.camera_id, c.camera_kind.value, uploader, str(c.rate_per_minute),
            f"{c.created_at:%Y-%m-%d}", state,
        )  # fmt: skip
    console.print(table)
