"""`lprx agreements add | revoke`: sharing agreements between agencies."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.access import Role
from pipelines.cli import common
from pipelines.cli.common import console, refusals
from pipelines.services import agreements

app = typer.Typer(help="Sharing agreements between agencies.")


@app.command("add")
def agreements_add(
    owner: Annotated[str, typer.Option(help="ORI of the agency whose hits are shared.")],
    partner: Annotated[str, typer.Option(help="ORI of the receiving agency.")],
    categories: Annotated[str, typer.Option(help="Comma-separated hotlist categories.")],
    legal_basis: Annotated[str, typer.Option(help="The agreement document (MOU/JPA).")],
    approved_by: Annotated[str, typer.Option(help="Individual login of the approver.")],
    share_covert: bool = False,
) -> None:
    """Grant a partner the hits of the given categories; the partner gets its own Kafka
    credentials and ACLs (its hit topic, its dispositions) if it has none yet."""
    from pipelines.access import add_partner

    settings = common.settings_as(Role.SETUP)
    with refusals():
        cats = agreements.parse_categories(categories.split(","))
        agreement = agreements.grant(
            settings, owner=owner, partner=partner, categories=cats,
            legal_basis=legal_basis, approved_by=approved_by, share_covert=share_covert,
        )  # fmt: skip
        properties = add_partner(settings, partner)
    console.print(f"agreement {agreement.agreement_id}: {', '.join(c.value for c in cats)}")
    console.print(f"partner {partner}: Kafka client properties (keep secret) in {properties}")


@app.command("revoke")
def agreements_revoke(
    owner: Annotated[str, typer.Option()],
    partner: Annotated[str, typer.Option()],
    actor: Annotated[str, typer.Option(help="Individual login of who revokes it.")],
) -> None:
    """Revoke an agreement: the partner receives nothing more from the owner."""
    with refusals():
        agreements.revoke(common.settings_as(Role.SETUP), owner=owner, partner=partner, actor=actor)
    console.print(f"agreement {owner}->{partner} revoked")
