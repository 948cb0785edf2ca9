"""`lprx cameras add|register|move|rotate|revoke|list|notices`: the cameras of your agency, as its
administrator.

`add` registers the camera (kind, install date, a fixed one's latitude, longitude and
place) and `move` records a fixed camera's new location; each makes the notice the
agency must file with the BCA within ten days (13.824 subd. 8), listed by `notices`
until it is marked filed (`notices --filed NOTICE --reference REF`).
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
    installed: Annotated[
        str | None, typer.Option(help="Install day YYYY-MM-DD (UTC), default today.")
    ] = None,
    latitude: Annotated[float | None, typer.Option(help="A fixed camera's latitude.")] = None,
    longitude: Annotated[float | None, typer.Option(help="A fixed camera's longitude.")] = None,
    location: Annotated[
        str | None, typer.Option(help="Where a resident finds a fixed camera (public).")
    ] = None,
    token_file: TokenFile = None,
) -> None:
    """A camera of your agency registered (kind, install date, a fixed one's location),
    with its BCA notice; its credential (or, with --owner and --consent-ref, a partner's
    video uploader's) bound to the agency, camera id and kind."""
    answer = call(common.settings(), "POST", "/v1/cameras", json={
        "camera_id": camera, "kind": kind.value, "rate_per_minute": rate, "owner": owner,
        "consent_ref": consent_ref, "installed_on": installed, "latitude": latitude,
        "longitude": longitude, "location": location,
    })  # fmt: skip
    _hand_over(answer, token_file, "camera")
    console.print(f"BCA notice {answer['notice_id']} due {answer['notice_due_on']} "
                  "(lprx cameras notices)")  # fmt: skip


@app.command("register")
def register(
    camera: CameraArg,
    installed: Annotated[str, typer.Option(help="Install day YYYY-MM-DD (UTC).")],
    latitude: Annotated[float | None, typer.Option(help="A fixed camera's latitude.")] = None,
    longitude: Annotated[float | None, typer.Option(help="A fixed camera's longitude.")] = None,
    location: Annotated[
        str | None, typer.Option(help="Where a resident finds a fixed camera (public).")
    ] = None,
) -> None:
    """Register a camera whose credential was added before the registry existed (its kind
    is the credential's); the BCA notice it makes."""
    notice = call(common.settings(), "POST", f"/v1/cameras/{camera}/register", json={
        "installed_on": installed, "latitude": latitude, "longitude": longitude,
        "location": location,
    })  # fmt: skip
    console.print(f"camera {camera} registered: BCA notice {notice['notice_id']} due "
                  f"{notice['due_on']}")  # fmt: skip


@app.command("move")
def move(
    camera: CameraArg,
    latitude: Annotated[float, typer.Option(help="The new latitude.")],
    longitude: Annotated[float, typer.Option(help="The new longitude.")],
    location: Annotated[str, typer.Option(help="Where a resident finds it (public).")],
    on: Annotated[str | None, typer.Option(help="Day moved, YYYY-MM-DD, default today.")] = None,
) -> None:
    """A fixed camera at a new location; the BCA notice the move makes."""
    notice = call(common.settings(), "POST", f"/v1/cameras/{camera}/move", json={
        "latitude": latitude, "longitude": longitude, "location": location, "moved_on": on,
    })  # fmt: skip
    console.print(f"camera {camera} at {location} from {notice['event_on']}: BCA notice "
                  f"{notice['notice_id']} due {notice['due_on']}")  # fmt: skip


@app.command("notices")
def notices(
    all_notices: Annotated[bool, typer.Option("--all", help="Filed ones too.")] = False,
    filed: Annotated[str | None, typer.Option(help="Mark this notice filed.")] = None,
    reference: Annotated[
        str | None, typer.Option(help="With --filed: the BCA's receipt or the letter's reference.")
    ] = None,
    filed_on: Annotated[
        str | None, typer.Option(help="With --filed: day filed, default today.")
    ] = None,
) -> None:
    """The notices your agency must file with the BCA (within 10 days of installing or
    moving a reader), pending ones first due first; or mark one filed."""
    settings = common.settings()
    if filed is not None:
        if not reference:
            raise common.fail("--filed needs --reference (the BCA's receipt or the letter's)")
        done = call(settings, "POST", f"/v1/camera-notices/{filed}/filed",
                    json={"filed_on": filed_on, "reference": reference})  # fmt: skip
        console.print(f"notice {filed} ({done['camera_id']}): filed {done['filed_on']}")
        return
    table = Table("notice", "camera", "kind", "why", "on", "due", "state", "location")
    found = call(settings, "GET", "/v1/camera-notices", params={"all": str(all_notices).lower()})
    for n in found:
        state = f"filed {n['filed_on']}" if n["filed_on"] else (
            "[red]OVERDUE[/red]" if n["overdue"] else "pending")  # fmt: skip
        where = n["location"]["description"] if n["location"] else "-"
        table.add_row(n["notice_id"], n["camera_id"], n["camera_kind"], n["reason"],
                      n["event_on"], n["due_on"], state, where)  # fmt: skip
    console.print(table)
    pending = [n for n in found if not n["filed_on"]]
    console.print(f"{len(pending)} pending, {sum(n['overdue'] for n in pending)} overdue")


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
    """Every camera of your agency: credential (never its secret) and registry entry."""
    settings = common.settings()
    table = Table("camera", "kind", "uploader", "rate/min", "installed", "location", "state")
    for c in call(settings, "GET", "/v1/cameras"):
        state = f"revoked {c['revoked_at'][:16]}" if c["revoked_at"] else "active"
        where = c["location"]
        place = f"{where['description']} (since {where['since']})" if where else "-"
        installed = c["installed_on"] or "not registered"
        table.add_row(c["camera_id"], c["kind"], c["uploader"] or "-", str(c["rate_per_minute"]),
                      installed, place, state)  # fmt: skip
    console.print(table)
    due = [n for n in call(settings, "GET", "/v1/camera-notices")]
    if due:
        console.print(f"{len(due)} BCA notices pending, first due {due[0]['due_on']} "
                      "(lprx cameras notices)")  # fmt: skip
