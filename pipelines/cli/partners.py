"""`lprx partners add|revoke|list`: partner agencies' own Kafka credentials and ACLs.

The consortium operator's commands, run where the admin credential is (``lprx-admin``):
an agreement made through the API only records what is shared, and ``lprx api``'s own
principal may make no user, ACL or topic."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipelines.access import Role, add_partner, as_role, revoke_partner
from pipelines.settings import get_settings
from schemas.errors import ConfigurationError

app = typer.Typer(no_args_is_help=True)
console = Console()

AgencyArg = Annotated[str, typer.Argument(help="ORI of the partner agency.")]


@app.command("add")
def add(agency: AgencyArg) -> None:
    """Give a partner its own user: read its hit topic (made here), write dispositions,
    nothing else. Run it once an agreement shares hits with the partner."""
    try:
        path = add_partner(get_settings(), agency)
    except ConfigurationError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    console.print(f"partner {agency}: librdkafka client properties (holds its password) in")
    console.print(f"  {path}")


@app.command("revoke")
def revoke(agency: AgencyArg) -> None:
    """Take a partner's access away at once (ACLs, password, properties file)."""
    try:
        revoke_partner(get_settings(), agency)
    except ConfigurationError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    console.print(f"partner {agency}: access revoked")


@app.command("list")
def list_partners() -> None:
    """Every Kafka user with its ACLs as the broker holds them."""
    from connectors.kafka import acls
    from connectors.kafka.topics import admin_client

    settings = as_role(get_settings(), Role.SETUP)
    admin = admin_client(settings)
    table = Table("user", "ACLs")
    for user in acls.users(admin):
        bindings = acls.acls_of(admin, user)
        lines = sorted(acls.describe(b) for b in bindings)
        label = "(super user)" if user in (acls.ADMIN, acls.BROKER) else "(none)"
        table.add_row(user, "\n".join(lines) or label)
    console.print(table)
