"""`lprx partner hits | dispose`: what a partner agency receives, and what it decided."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pipelines.access import Role
from pipelines.cli import common
from pipelines.cli.common import PurposeOption, UserOption, console, refusals
from schemas.records import Disposition

app = typer.Typer(help="What a partner agency receives.")


@app.command("hits")
def partner_hits(
    agency: Annotated[str, typer.Argument(help="ORI of the receiving agency.")],
    user: UserOption,
    purpose: PurposeOption = "review of delivered hits",
    max_messages: int = 50,
    timeout: float = 5.0,
) -> None:
    """Show the hits delivered to an agency's topic (audited)."""
    from connectors.kafka.audit import AuditTrail
    from pipelines.services.access import Requester
    from pipelines.services.hits import delivered_hits

    # Read as the partner (its own topic only); the access audited by the operator's tool.
    settings = common.settings_as_partner(agency)
    trail = AuditTrail(common.settings_as(Role.SETUP), "lprx-cli")
    with refusals():
        hits = delivered_hits(
            settings, trail, Requester(user, agency, purpose),
            max_messages=max_messages, timeout_s=timeout,
        )  # fmt: skip
    table = Table("matched at", "plate", "category", "from agency", "camera", "expires")
    for hit in hits:
        table.add_row(
            hit.matched_at.strftime("%H:%M:%S"), hit.read.plate, hit.entry.category.value,
            hit.read.agency_ori, hit.read.camera_id, hit.read.expires_at.date().isoformat(),
        )  # fmt: skip
    console.print(table)


@app.command("dispose")
def partner_dispose(
    hit_id: str,
    agency: Annotated[str, typer.Option(help="Your agency's ORI (it received the hit).")],
    user: UserOption,
    disposition: Disposition,
    note: str | None = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for Kafka to acknowledge it.")
    ] = 10.0,
) -> None:
    """Record what your agency decided about a hit it received (stored with the hit)."""
    from connectors.cassandra import CassandraStore
    from pipelines.services.hits import dispose_hit

    settings = common.settings_as_partner(agency)
    with refusals(), CassandraStore(settings, create_schema=False) as store:
        dispose_hit(
            settings, store, hit_id=hit_id, agency=agency, user=user,
            disposition=disposition, note=note, timeout_s=timeout,
        )  # fmt: skip
    console.print(f"hit {hit_id}: {disposition.value} recorded")
