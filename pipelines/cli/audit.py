"""`lprx audit show|verify|checkpoint|public-key`: the audit trail, and its proof.

Every event is chained by hash to the one before it in its agency's chain (the store
agent chains them, connectors/cassandra/audit_chain.py); `checkpoint` signs each chain's
head with the Ed25519 key kept in the secrets folder (run it daily); `verify` proves an
interval intact or names the first event changed, inserted or removed. Reading the
trail, verifying included, is audited (CJIS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.access import Role
from pipelines.cli import common
from pipelines.cli.common import PurposeOption, UserOption, console, refusals

app = typer.Typer(help="The audit trail: show a day, verify an interval, sign checkpoints.")

DayOption = Annotated[str | None, typer.Option(help="UTC day YYYY-MM-DD, default today.")]


@app.command("show")
def show(day: DayOption = None, limit: int = 100) -> None:
    """The audit trail of your agency on a day (auditors; supervisors: its searches),
    through the API as the logged-in person. Reading the audit trail is audited too."""
    from pipelines.cli.reads import audit

    audit(day, limit)


@app.command("verify")
def verify(
    chain: Annotated[str, typer.Option("--agency", help="The agency (ORI) whose chain to check.")],
    user: UserOption,
    user_agency: Annotated[str, typer.Option(help="Your agency's ORI (audited).")],
    from_day: Annotated[str | None, typer.Option("--from", help="First UTC day.")] = None,
    to_day: Annotated[str | None, typer.Option("--to", help="Last UTC day.")] = None,
    purpose: PurposeOption = "audit trail integrity check",
    public_key: Annotated[
        list[Path] | None, typer.Option(help="Verifier's public key(s); default the published.")
    ] = None,
) -> None:
    """Prove an interval of an agency's chain intact, or name the first bad event.
    Exit code 0: intact; 1: a finding (each listed) or an error."""
    from connectors.cassandra import CassandraStore
    from connectors.cassandra.audit_queries import AuditChainQueries
    from connectors.kafka.audit import AuditTrail
    from connectors.security.signing import key_id, load_public_key, public_key_file
    from pipelines.services.access import Requester
    from pipelines.services.audit import utc_day
    from pipelines.services.audit_chain import verify_audited

    settings = common.settings_as(Role.READER)
    first, last = from_day or utc_day(), to_day or from_day or utc_day()
    with refusals():
        published = public_key_file(settings.secrets_dir)
        paths = public_key or ([published] if published.exists() else [])
        if not paths:
            console.print("no public key: the chain is checked, its checkpoints cannot be")
        keys = [load_public_key(p) for p in paths]
        with CassandraStore(settings, create_schema=False) as store:
            result = verify_audited(
                AuditChainQueries(store.session, store.keyspace),
                AuditTrail(settings, "lprx-cli"),
                Requester(user, user_agency, purpose),
                chain,
                first,
                last,
                {key_id(k): k for k in keys},
            )
    console.print(
        f"chain {chain}, {first}..{last}: {result.events_checked} events checked from "
        f"{result.anchor} to seq {result.last_seq}; {result.checkpoints_checked} checkpoints"
    )
    if result.intact:
        console.print("[green]intact[/green]")
        return
    table = Table("finding", "seq", "event", "detail")
    for finding in result.findings:
        table.add_row(finding.kind, str(finding.seq or ""), finding.event_id or "", finding.detail)
    console.print(table)
    first_bad = result.findings[0]
    raise common.fail(f"first finding: {first_bad.kind}: {first_bad.detail}")


@app.command("checkpoint")
def checkpoint(user: UserOption) -> None:
    """Sign each agency chain's head (run daily; the key never leaves the secrets folder)."""
    from connectors.cassandra import CassandraStore
    from connectors.cassandra.audit_queries import AuditChainQueries
    from connectors.kafka.audit import AuditTrail
    from connectors.security.signing import ensure_signing_key
    from pipelines.services.audit_chain import sign_checkpoints

    settings = common.settings_as(Role.SETUP)
    with refusals(), CassandraStore(settings, create_schema=False) as store:
        made = sign_checkpoints(
            AuditChainQueries(store.session, store.keyspace),
            AuditTrail(settings, "lprx-cli"),
            ensure_signing_key(settings.secrets_dir),
            user,
        )
    for signed in made:
        console.print(f"signed {signed.chain} seq {signed.seq} ({signed.chain_day})")
    console.print(f"{len(made)} checkpoints signed")


@app.command("public-key")
def public_key() -> None:
    """Print the checkpoint public key (PEM) for verifiers, made if missing."""
    from connectors.security.signing import ensure_signing_key, public_pem

    settings = common.settings()
    with refusals():
        key = ensure_signing_key(settings.secrets_dir)
    typer.echo(public_pem(key.public_key()).decode(), nl=False)
