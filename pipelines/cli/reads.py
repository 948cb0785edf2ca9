"""Audited look-ups: `lprx reads search`, `lprx audit` (dead letters: ``deadletters.py``).

Each shows nothing until Kafka has acknowledged the look-up's audit event.
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

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


def audit(
    user: UserOption,
    agency: AgencyOption,
    purpose: PurposeOption,
    day: Annotated[str | None, typer.Option(help="UTC day YYYY-MM-DD, default today.")] = None,
    limit: int = 100,
) -> None:
    """Show the audit trail of a day. Reading the audit trail is audited too (CJIS)."""
    from connectors.cassandra import CassandraStore
    from connectors.kafka.audit import AuditTrail
    from pipelines.services.access import Requester
    from pipelines.services.audit import audit_trail

    settings = common.settings_as(Role.READER)
    with refusals(), CassandraStore(settings, create_schema=False) as store:
        found = audit_trail(
            store, AuditTrail(settings, "lprx-cli"), Requester(user, agency, purpose), day, limit
        )
    table = Table("when", "actor", "agency", "action", "target", "recipient", "outcome", "purpose")
    for row in found.rows:
        table.add_row(
            row["occurred_at"].strftime("%H:%M:%S"), row["actor"], row["actor_agency_ori"] or "",
            row["action"], f"{row['target_kind']}:{row['target_id']}"[:40],
            row["recipient_agency_ori"] or "", row["outcome"], (row["purpose"] or "")[:30],
        )  # fmt: skip
    console.print(table)
