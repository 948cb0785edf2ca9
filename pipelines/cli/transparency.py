"""`lprx transparency report`: the public log of use (13.824 subd. 5), HTML or CSV."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pipelines.access import Role
from pipelines.cli import common
from pipelines.cli.common import console, refusals

app = typer.Typer(help="The public log of use: figures a resident can read (no plate data).")


class ReportFormat(StrEnum):
    HTML = "html"
    CSV = "csv"


@app.command("report")
def transparency_report(
    agency: Annotated[str, typer.Option(help="The agency (ORI) reported on.")],
    from_day: Annotated[str, typer.Option("--from", help="First UTC day, YYYY-MM-DD.")],
    to_day: Annotated[str, typer.Option("--to", help="Last UTC day, YYYY-MM-DD.")],
    report_format: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.HTML,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Reads, when each camera collected, lists, hits by category, sharing, retention,
    fixed camera locations."""
    from connectors.cassandra import CassandraStore
    from connectors.cassandra.audit_queries import AuditChainQueries
    from connectors.cassandra.cameras import CameraRegistry
    from pipelines.services import transparency
    from pipelines.services.audit_chain import days
    from pipelines.services.cameras import fixed_locations

    settings = common.settings_as(Role.READER)
    with refusals():
        try:
            days(from_day, to_day)
        except ValueError as error:
            raise common.fail(f"--from and --to must be YYYY-MM-DD days: {error}") from error
        with CassandraStore(settings, create_schema=False) as store:
            found = transparency.report(
                store.usage, AuditChainQueries(store.session, store.keyspace), agency,
                from_day, to_day, settings.retention_for(agency),
                fixed_locations(CameraRegistry(store.session, store.keyspace), agency),
            )  # fmt: skip
    text = transparency.as_html(found) if report_format is ReportFormat.HTML else (
        transparency.as_csv(found)
    )  # fmt: skip
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}: {found.reads} reads, {found.hits} hits")
