"""`lprx agreements add | revoke | list`: what your agency shares, as its administrator."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli import common
from pipelines.cli.common import console, refusals
from pipelines.cli.session import call
from pipelines.services import agreements

app = typer.Typer(help="Sharing agreements of your agency.")


@app.command("add")
def agreements_add(
    partner: Annotated[str, typer.Option(help="ORI of the receiving agency.")],
    legal_basis: Annotated[str, typer.Option(help="The agreement document (MOU/JPA).")],
    categories: Annotated[
        str, typer.Option(help="Comma-separated hotlist categories whose hits are shared.")
    ] = "",
    share_reads: Annotated[
        bool, typer.Option(help="The partner may search your agency's reads.")
    ] = False,
    share_covert: bool = False,
) -> None:
    """Share your agency's hits of some categories, its reads, or both, with a partner;
    approved by you (audited)."""
    with refusals():
        cats = agreements.parse_categories(categories.split(","))
    answer = call(common.settings(), "POST", "/v1/agreements", json={
        "partner_agency_ori": partner, "hit_categories": [c.value for c in cats],
        "share_reads": share_reads, "share_covert": share_covert, "legal_basis": legal_basis,
    })  # fmt: skip
    shared = ", ".join(answer["hit_categories"]) or "no hits"
    console.print(f"agreement {answer['agreement_id']}: {shared}; "
                  f"reads {'shared' if answer['share_reads'] else 'not shared'}")  # fmt: skip
    if answer["hit_categories"]:
        console.print(f"{partner} receives its hits on its own Kafka user, which the consortium "
                      f"operator makes: lprx partners add {partner}")  # fmt: skip


@app.command("revoke")
def agreements_revoke(partner: Annotated[str, typer.Option()]) -> None:
    """Revoke an agreement: the partner receives and sees nothing more of your agency."""
    answer = call(common.settings(), "DELETE", f"/v1/agreements/{partner}")
    console.print(f"agreement {answer['revoked']} revoked")


@app.command("list")
def agreements_list() -> None:
    """The agreements of your agency, as owner or partner."""
    table = Table("agreement", "hits", "reads", "covert", "since", "basis", "approved by")
    for a in call(common.settings(), "GET", "/v1/agreements"):
        table.add_row(a["agreement_id"], ",".join(a["hit_categories"]),
                      "yes" if a["share_reads"] else "no", "yes" if a["share_covert"] else "no",
                      a["effective_from"][:10], a["legal_basis"], a["approved_by"])  # fmt: skip
    console.print(table)
