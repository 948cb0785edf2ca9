"""`lprx cameras add|rotate|revoke|list`: the cameras of your agency, as its administrator.

A token is shown once (or written 0600 to ``--token-file``) and never stored: the
credentials file the API writes keeps its argon2id hash. Running ingest processes pick
changes up within seconds, without a restart. Each change is audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from connectors.ingest.credentials import DEFAULT_RATE_PER_MINUTE
from connectors.security.files import write_secret
from pipelines.cli import common
from pipelines.cli.common import console
from pipelines.cli.session import call
from schemas.records import CameraKind

app = typer.Typer(no_args_is_help=True)

CameraArg = Annotated[str, typer.Argument(help="The camera's id, as its reads name it.")]
TokenFile = Annotated[
    Path | None, typer.Option(help="Write the token to this file (0600) instead of showing it.")
]


def _hand_over(answer: dict[str, str], token_file: Path | None, what: str) -> None:
    token = answer["token"]
    label = f"{what} {answer['camera_id']} of {answer['agency_ori']}"
    if token_file is not None:
        write_secret(token_file, token + "\n")
        console.print(f"{label}: token written to {token_file}")
        return
    console.print(f"{label}: token (shown once, not stored; give it to the camera):")
    console.print(token, soft_wrap=True, highlight=False)


@app.command("add")
def add(
    camera: CameraArg,
    kind: CameraKind = CameraKind.FIXED,
    rate: Annotated[int, typer.Option(help="Requests a minute.")] = DEFAULT_RATE_PER_MINUTE,
    owner: Annotated[str | None, typer.Option(help="A partner uploader's owner.")] = None,
    consent_ref: Annotated[
        str | None, typer.Option(help="A partner uploader's consent reference.")
    ] = None,
    token_file: TokenFile = None,
) -> None:
    """A credential for one camera of your agency (or, with --owner and --consent-ref, a
    partner's video uploader): bound to the agency, camera id and kind."""
    answer = call(common.settings(), "POST", "/v1/cameras", json={
        "camera_id": camera, "kind": kind.value, "rate_per_minute": rate, "owner": owner,
        "consent_ref": consent_ref,
    })  # fmt: skip
    _hand_over(answer, token_file, "camera")


@app.command("rotate")
def rotate(camera: CameraArg, token_file: TokenFile = None) -> None:
    """A new token for the camera; the old one stops working within seconds."""
    _hand_over(call(common.settings(), "POST", f"/v1/cameras/{camera}/rotate"), token_file,
               "camera (rotated)")  # fmt: skip


@app.command("revoke")
def revoke(camera: CameraArg) -> None:
    """The camera's token stops working within seconds (kept as revoked, for audit)."""
    call(common.settings(), "DELETE", f"/v1/cameras/{camera}")
    console.print(f"camera {camera}: credential revoked")


@app.command("list")
def list_cameras() -> None:
    """Every camera credential of your agency (never its secret)."""
    table = Table("camera", "kind", "uploader", "rate/min", "created", "state")
    for c in call(common.settings(), "GET", "/v1/cameras"):
        state = f"revoked {c['revoked_at'][:16]}" if c["revoked_at"] else "active"
        table.add_row(c["camera_id"], c["kind"], c["uploader"] or "-", str(c["rate_per_minute"]),
                      c["created_at"][:10], state)  # fmt: skip
    console.print(table)
