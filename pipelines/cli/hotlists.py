"""`lprx hotlist load`: a hotlist file onto the hotlist topic, the load audited."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.access import Role
from pipelines.cli import common
from pipelines.cli.common import UserOption, console, refusals
from pipelines.services.hotlists import HotlistFormat
from schemas.records import HotlistCategory

app = typer.Typer(help="Hotlists: load CSV files into the hotlist topic.")


@app.command("load")
def hotlist_load(
    path: Path,
    list_id: Annotated[str, typer.Option(help="Stable id of the list, e.g. mn-bca-stolen.")],
    source: Annotated[str, typer.Option(help="Where the list comes from, e.g. NCIC.")],
    agency: Annotated[str, typer.Option(help="ORI of the agency that owns the list.")],
    user: UserOption,
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
    """Load a hotlist file (layouts: connectors/hotlist/files.py, connectors/hotlist/formats.py)."""
    from connectors.hotlist.files import HotlistSource
    from pipelines.services.hotlists import load_hotlist

    list_source = HotlistSource(list_id, source, agency, category, priority, covert)
    with refusals():
        load = load_hotlist(
            common.settings_as(Role.SETUP), path, list_source, user=user, file_format=file_format,
            snapshot=snapshot, force=force,
        )  # fmt: skip
    for error in load.refused:
        console.print(f"[yellow]refused:[/yellow] {error}")
    console.print(f"hotlist {list_id}: {load.summary}; {len(load.refused)} rows refused")
