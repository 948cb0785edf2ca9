"""`lprx deadletters`: what the stages refused, and why; `lprx deadletters replay` sends
letters back to their stage once the cause is fixed. Both are audited (letters can hold
reads), and show nothing until Kafka has acknowledged the audit event."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from pipelines.access import Role
from pipelines.cli import common
from pipelines.cli.common import console, refusals

app = typer.Typer(
    help="Dead letters: list them (no subcommand), or replay them.",
    invoke_without_command=True,
)


@app.callback()
def deadletters(ctx: typer.Context, max_messages: int = 50) -> None:
    """Show dead letters: stage, reason and source, without their bytes (operators,
    through the API as the logged-in person; audited: they can hold reads)."""
    if ctx.invoked_subcommand is not None:
        return
    from pipelines.cli.reads import deadletters as listed

    listed(max_messages)


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise common.fail(f"{value}: give a time zone (e.g. 2026-12-01T08:00:00+00:00)")
    return at


@app.command("replay")
def replay(
    purpose: Annotated[
        str, typer.Option(help="Why: the incident, and the fix of the letters' cause (audited).")
    ],
    stage: Annotated[str | None, typer.Option(help="Only letters of this stage.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only letters whose reason has this.")] = None,
    since: Annotated[str | None, typer.Option(help="Only letters from this time (ISO).")] = None,
    until: Annotated[str | None, typer.Option(help="Only letters before this time (ISO).")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Replay; without it, only count.")] = False,
    timeout: float = 30.0,
) -> None:
    """Send dead letters back to the topic their stage reads, once the cause is fixed.
    A dry run (counts only) unless --apply; a letter is never replayed twice."""
    import getpass

    from connectors.kafka.audit import AuditTrail
    from pipelines.services.replay import ReplayFilter, local_operator, replay_dead_letters

    wanted = ReplayFilter(stage, reason, _when(since), _when(until))
    settings = common.settings_as(Role.REPLAY)
    with refusals():
        report = replay_dead_letters(
            settings, AuditTrail(settings, "lprx-replay"),
            local_operator(settings, getpass.getuser()), purpose, wanted, apply=apply,
            timeout_s=timeout,
        )  # fmt: skip
    plan = report.plan
    table = Table("stage", "back to topic", "letters")
    for (letter_stage, topic), count in sorted(plan.by_stage_and_topic().items()):
        table.add_row(letter_stage, topic, str(count))
    console.print(table)
    console.print(f"already replayed: {plan.already_replayed}")
    for why, count in sorted(plan.not_replayable.items()):
        console.print(f"not replayable ({why}): {count}")
    if report.applied:
        console.print(f"replayed: {report.replayed} (recorded in the audit trail)")
    else:
        console.print(f"would replay: {len(plan.selected)} (dry run; --apply to replay)")
