"""`lprx audit show|verify|report|checkpoint|public-key`: the audit trail, and its proof.

Every event is chained by hash to the one before it in its agency's chain (the store
agent chains them, connectors/cassandra/audit_chain.py); `checkpoint` signs each chain's
head with the Ed25519 key kept in the secrets folder (run it daily); `verify` (an auditor,
through the API) proves an interval of its agency's chain intact or names the first
event changed, inserted or removed; `report` (an auditor) exports the biennial audit's
records and flags. Reading the trail, verifying included, is audited
(CJIS).
"""

from __future__ import annotations

import getpass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.access import Role
from pipelines.cli import common
from pipelines.cli.common import console, refusals
from pipelines.cli.session import call

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
    from_day: Annotated[str | None, typer.Option("--from", help="First UTC day.")] = None,
    to_day: Annotated[str | None, typer.Option("--to", help="Last UTC day.")] = None,
    public_key: Annotated[
        list[Path] | None, typer.Option(help="Verifier's public key(s); default the published.")
    ] = None,
) -> None:
    """Prove an interval of your agency's chain intact, or name the first bad event
    (auditors, through the API as the logged-in person; audited).
    Exit code 0: intact; 1: a finding (each listed) or an error."""
    pems = []
    for path in public_key or []:
        try:
            pems.append(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise common.fail(f"cannot read {path}: {error}") from error
    body = {"from_day": from_day, "to_day": to_day, "public_keys_pem": pems}
    result = call(common.settings(), "POST", "/v1/audit/verify", json=body)
    if not result["keys_used"]:
        console.print("no public key: the chain is checked, its checkpoints cannot be")
    console.print(
        f"chain {result['chain']}, {result['from_day']}..{result['to_day']}: "
        f"{result['events_checked']} events checked from {result['anchor']} to seq "
        f"{result['last_seq']}; {result['checkpoints_checked']} checkpoints"
    )
    if result["intact"]:
        console.print("[green]intact[/green]")
        return
    table = Table("finding", "seq", "event", "detail")
    for finding in result["findings"]:
        table.add_row(finding["kind"], str(finding["seq"] or ""), finding["event_id"] or "",
                      finding["detail"])  # fmt: skip
    console.print(table)
    first_bad = result["findings"][0]
    raise common.fail(f"first finding: {first_bad['kind']}: {first_bad['detail']}")


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


@app.command("report")
def report(
    agency: Annotated[str, typer.Option(help="The agency (ORI) audited: your own.")],
    from_day: Annotated[str, typer.Option("--from", help="First UTC day, YYYY-MM-DD.")],
    to_day: Annotated[str, typer.Option("--to", help="Last UTC day, YYYY-MM-DD.")],
    export_format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.CSV,
    output: Annotated[
        Path | None,
        typer.Option(
            help="CSV: the folder for the files (default audit-ORI-FROM-TO); "
            "JSON: the file (default stdout)."
        ),
    ] = None,
    repeat_threshold: Annotated[
        int, typer.Option(help="Flag one person searching one plate this often.")
    ] = 5,
    work_hours: Annotated[
        str, typer.Option(help="Working hours, local, START-END (flag access outside).")
    ] = "7-19",
    timezone: Annotated[str, typer.Option(help="The agency's time zone.")] = "America/Chicago",
) -> None:
    """The biennial audit's export (13.824 subd. 6): collection, classification and
    destruction per day, every access with its purpose, case number and factual basis,
    the sharing log, agreement changes, and flags (an auditor of the agency, through the
    API; audited)."""
    import json

    from pipelines.services.audit_report import csv_files

    start, _, end = work_hours.partition("-")
    if not (start.isdigit() and end.isdigit()):
        raise common.fail(f"--work-hours {work_hours!r}: write START-END hours, e.g. 7-19")
    body = {"agency_ori": agency, "from_day": from_day, "to_day": to_day,
            "repeat_threshold": repeat_threshold, "work_start_hour": int(start),
            "work_end_hour": int(end), "timezone": timezone}  # fmt: skip
    found = call(common.settings(), "POST", "/v1/audit/report", json=body)
    summary = found["summary"]
    if export_format is ExportFormat.JSON:
        text = json.dumps(found, indent=2)
        if output is None:
            typer.echo(text)
            return
        output.write_text(text + "\n", encoding="utf-8")
    else:
        output = output or Path(f"audit-{agency}-{from_day}-{to_day}")
        output.mkdir(parents=True, exist_ok=True)
        for name, content in csv_files(found).items():
            (output / name).write_text(content, encoding="utf-8")
    console.print(
        f"wrote {output}: {summary['accesses']} accesses, {summary['disseminations']} "
        f"disseminations, {summary['agreement_changes']} agreement changes, "
        f"{summary['flags']} flags"
    )


@app.command("checkpoint")
def checkpoint() -> None:
    """Sign each agency chain's head (run daily by the custodian, on the host with the
    secrets folder: the key never leaves it; the signing is audited as the OS user).
    A missing key is made, unless LPRX_AUDIT_SIGNING_KEY_REQUIRED (then: exit code 1).
    Runs as its own principal (Kafka lprx-checkpoint, Cassandra lprx_checkpoint): the
    chain heads in, the checkpoints and their audit events out, nothing else."""
    from connectors.cassandra import connect
    from connectors.cassandra.audit_queries import AuditChainQueries
    from connectors.cassandra.schema import keyspace_name
    from connectors.kafka.audit import AuditTrail
    from connectors.security.signing import ensure_signing_key
    from pipelines.services.audit_chain import sign_checkpoints

    settings = common.settings_as(Role.CHECKPOINT)
    with refusals():
        # Before any connection: a missing key must fail the run, not half of it.
        required = settings.audit_signing_key_required
        key = ensure_signing_key(settings.secrets_dir, create=not required)
    with refusals():
        # A bare session, not the store's: the role may prepare its own statements only.
        cluster, session = connect(settings)
        try:
            made = sign_checkpoints(
                AuditChainQueries(session, keyspace_name(settings.cassandra_keyspace)),
                AuditTrail(settings, "lprx-checkpoint"),
                key,
                f"os:{getpass.getuser()}",
            )
        finally:
            cluster.shutdown()
    for signed in made:
        console.print(f"signed {signed.chain} seq {signed.seq} ({signed.chain_day})")
    console.print(f"{len(made)} checkpoints signed")


@app.command("public-key")
def public_key() -> None:
    """Print the checkpoint public key (PEM) for verifiers, made if missing (unless
    LPRX_AUDIT_SIGNING_KEY_REQUIRED)."""
    from connectors.security.signing import ensure_signing_key, public_pem

    settings = common.settings()
    with refusals():
        required = settings.audit_signing_key_required
        key = ensure_signing_key(settings.secrets_dir, create=not required)
    typer.echo(public_pem(key.public_key()).decode(), nl=False)
