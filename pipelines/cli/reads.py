"""Audited look-ups: `lprx reads search` (dead letters: `cli/deadletters.py`; the trail:
`cli/audit.py`).

Each shows nothing until Kafka has acknowledged the look-up's audit event.
"""

from __future__ import annotations

from datetime import UTC

import typer
from rich.table import Table

from pipelines.access import Role
from pipelines.cli import common
from pipelines.cli.common import AgencyOption, PurposeOption, UserOption, console, refusals

app = typer.Typer(help="Audited look-ups of stored reads.")


@app.command("search")
def reads_search(
    plate: str,
    user: UserOption,
    agency: AgencyOption,
    purpose: PurposeOption,
    limit: int = 50,
) -> None:
    """Look up stored reads of a plate. Every search is audited with its purpose."""
    from connectors.cassandra import CassandraStore
    from connectors.kafka.audit import AuditTrail
    from pipelines.services.access import Requester
    from pipelines.services.reads import search_reads

    settings = common.settings_as(Role.READER)
    with refusals(), CassandraStore(settings, create_schema=False) as store:
        found = search_reads(
            store, AuditTrail(settings, "lprx-cli"), Requester(user, agency, purpose), plate, limit
        )
    table = Table(
        "collected", "plate", "agency", "camera", "confidence", "reads of pass", "expires in (s)"
    )
    for row in found.rows:
        table.add_row(
            row["collected_at"].replace(tzinfo=UTC).isoformat(timespec="seconds"), row["plate"],
            row["agency_ori"], row["camera_id"], f"{row['confidence']:.1f}",
            str(1 + (row["duplicates"] or 0)), str(row["ttl"]),
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(found.rows)} reads; this search was recorded in the audit trail")
