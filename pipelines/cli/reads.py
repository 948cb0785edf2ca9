"""Audited look-ups: `lprx reads search`, `lprx deadletters` (the trail: `cli/audit.py`).

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


def deadletters(
    user: UserOption,
    agency: AgencyOption,
    purpose: PurposeOption = "pipeline operations review",
    max_messages: int = 50,
    timeout: float = 5.0,
) -> None:
    """Show dead letters: stage, reason and source (audited: they can hold reads)."""
    from connectors.kafka.audit import AuditTrail
    from pipelines.services.access import Requester
    from pipelines.services.deadletters import dead_letters

    settings = common.settings_as(Role.READER)
    with refusals():
        letters = dead_letters(
            settings, AuditTrail(settings, "lprx-cli"), Requester(user, agency, purpose),
            max_messages=max_messages, timeout_s=timeout,
        )  # fmt: skip
    table = Table("when", "stage", "error", "reason", "source", "bytes")
    for letter in letters:
        table.add_row(
            letter.occurred_at.strftime("%H:%M:%S"), letter.stage, letter.error_type,
            letter.reason[:80],
            f"{letter.source_topic}:{letter.source_partition}:{letter.source_offset}",
            str(len(letter.original_value or b"")),
        )  # fmt: skip
    console.print(table)
