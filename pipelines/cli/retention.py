"""`lprx retention changelogs | delete-changelogs`: the Faust changelogs of this prefix.

Every changelog keeps nothing past the transport bound (setup gives existing ones the
bounded settings), so one left behind by an app id no longer used empties itself within
a day; ``delete-changelogs`` removes it at once.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pipelines.access import CHANGELOG_TABLES, PIPELINE_STAGES, Role
from pipelines.cli import common
from pipelines.cli.common import console, refusals

app = typer.Typer(no_args_is_help=True)


@app.command("changelogs")
def changelogs() -> None:
    """List the changelog topics of this prefix, by app, and whether a worker runs it."""
    from connectors.kafka.changelogs import app_has_members, find_changelogs
    from connectors.kafka.topics import admin_client

    settings = common.settings_as(Role.SETUP)
    with refusals():
        found = find_changelogs(settings, CHANGELOG_TABLES, PIPELINE_STAGES)
        admin = admin_client(settings)
        running = {c.app_id: app_has_members(admin, c.app_id) for c in found}
    table = Table("app id", "table", "topic", "workers running")
    for changelog in found:
        table.add_row(changelog.app_id, changelog.table, changelog.topic,
                      "yes" if running[changelog.app_id] else "no")  # fmt: skip
    console.print(table)


@app.command("delete-changelogs")
def delete_changelogs(
    app_id: Annotated[str, typer.Argument(help="The app whose changelogs go, e.g. lprx-match.")],
) -> None:
    """Delete the changelogs of an app no worker runs (a worker of it would start empty)."""
    from connectors.kafka.changelogs import delete_app_changelogs

    settings = common.settings_as(Role.SETUP)
    with refusals():
        deleted = delete_app_changelogs(settings, app_id, CHANGELOG_TABLES, PIPELINE_STAGES)
    console.print(f"deleted {len(deleted)} changelog topic(s): {', '.join(deleted) or '-'}")
