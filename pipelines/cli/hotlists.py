"""`lprx hotlist load`: a hotlist file of your agency, loaded through the API (audited)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli import common
from pipelines.cli.common import console, fail
from pipelines.cli.session import call
from pipelines.services.hotlists import HotlistFormat
from schemas.records import HotlistCategory

app = typer.Typer(help="Hotlists: load files into the hotlist topic.")


@app.command("load")
def hotlist_load(
    path: Path,
    list_id: Annotated[str, typer.Option(help="Stable id of the list, e.g. mn-bca-stolen.")],
    source: Annotated[str, typer.Option(help="The list's name, e.g. 'MN BCA hotlist'.")],
    source_kind: Annotated[
        str,
        typer.Option(
            help="What the law allows (13.824 subd. 2(c)): state_file, ncic (with "
            "--ncic-file, or a file per row) or investigation (with --case-number)."
        ),
    ],
    ncic_file: Annotated[
        str | None, typer.Option(help="An NCIC extract's file, e.g. vehicle, wanted_person.")
    ] = None,
    case_number: Annotated[
        str | None, typer.Option(help="The active investigation a list is tied to.")
    ] = None,
    purpose: Annotated[
        str | None, typer.Option(help="What the list is for, e.g. criminal_investigation.")
    ] = None,
    file_format: Annotated[
        HotlistFormat, typer.Option("--format", help="lprx CSV, Genetec delimited, NCIC fixed.")
    ] = HotlistFormat.LPRX,
    snapshot: Annotated[
        bool, typer.Option(help="The file is the whole list: entries absent from it are retracted.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(help="Let a snapshot retract more than the allowed share of the list."),
    ] = False,
    category: HotlistCategory = HotlistCategory.STOLEN_VEHICLE,
    priority: int = 50,
    covert: bool = False,
) -> None:
    """Load a hotlist owned by your agency (layouts: connectors/hotlist/files.py, formats.py)."""
    try:
        content = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as error:
        raise fail(f"cannot read {path}: {error.strerror}") from error
    load = call(common.settings(), "POST", "/v1/hotlists", json={
        "list_id": list_id, "source": source, "source_kind": source_kind,
        "ncic_file": ncic_file, "case_number": case_number, "purpose": purpose,
        "content": content, "format": file_format.value,
        "category": category.value, "priority": priority, "covert": covert,
        "snapshot": snapshot, "force": force,
    })  # fmt: skip
    for refused in load["refused"]:
        console.print(f"[yellow]refused:[/yellow] {refused}")
    console.print(f"hotlist {list_id}: {load['summary']}; {len(load['refused'])} rows refused")
