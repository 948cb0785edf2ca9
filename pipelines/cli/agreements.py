"""`lprx agreements add | approve | reject | revoke | list | policy`: what your agency
shares. An administrator proposes; a widening waits for a second approver of the agency
(an administrator or a supervisor) before it is in force."""

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
    exclude_purposes: Annotated[
        str,
        typer.Option(help="Comma-separated purposes never shared, e.g. immigration_enforcement."),
    ] = "",
) -> None:
    """Set what your agency shares with a partner: hits of some categories, its reads, or
    both. A narrowing is in force at once; a widening waits for a second approver."""
    with refusals():
        cats = agreements.parse_categories(categories.split(","))
        purposes = agreements.parse_purposes(exclude_purposes.split(","))
    answer = call(common.settings(), "POST", "/v1/agreements", json={
        "partner_agency_ori": partner, "hit_categories": [c.value for c in cats],
        "share_reads": share_reads, "share_covert": share_covert, "legal_basis": legal_basis,
        "excluded_purposes": list(purposes),
    })  # fmt: skip
    shared = ", ".join(answer["hit_categories"]) or "no hits"
    console.print(f"agreement {answer['agreement_id']}: {shared}; "
                  f"reads {'shared' if answer['share_reads'] else 'not shared'}")  # fmt: skip
    if answer["status"] == "pending":
        console.print(f"[yellow]pending:[/yellow] it widens ({'; '.join(answer['widens'])}), so "
                      "it is in force once a second administrator or supervisor of your agency "
                      f"approves it: lprx agreements approve --partner {partner}")  # fmt: skip
    elif answer["hit_categories"]:
        console.print(f"{partner} receives its hits on its own Kafka user, which the consortium "
                      f"operator makes: lprx partners add {partner}")  # fmt: skip


@app.command("approve")
def agreements_approve(partner: Annotated[str, typer.Option()]) -> None:
    """Approve the widening another person of your agency proposed: in force now."""
    answer = call(common.settings(), "POST", f"/v1/agreements/{partner}/approve")
    console.print(f"agreement {answer['agreement_id']} in force, approved by "
                  f"{answer['approved_by']} (proposed by {answer['proposed_by']})")  # fmt: skip
    if answer["hit_categories"]:
        console.print(f"{partner} receives its hits on its own Kafka user, which the consortium "
                      f"operator makes: lprx partners add {partner}")  # fmt: skip


@app.command("reject")
def agreements_reject(partner: Annotated[str, typer.Option()]) -> None:
    """Reject the widening waiting: what is in force stays."""
    answer = call(common.settings(), "POST", f"/v1/agreements/{partner}/reject")
    console.print(f"the widening of {answer['rejected']} was rejected")


@app.command("revoke")
def agreements_revoke(partner: Annotated[str, typer.Option()]) -> None:
    """Revoke an agreement: the partner receives and sees nothing more of your agency."""
    answer = call(common.settings(), "DELETE", f"/v1/agreements/{partner}")
    console.print(f"agreement {answer['revoked']} revoked")


@app.command("list")
def agreements_list() -> None:
    """The agreements of your agency, as owner or partner, and widenings waiting."""
    table = Table("agreement", "status", "hits", "reads", "covert", "purposes excluded",
                  "since", "basis", "approved by")  # fmt: skip
    for a in call(common.settings(), "GET", "/v1/agreements"):
        table.add_row(a["agreement_id"], a["status"], ",".join(a["hit_categories"]),
                      "yes" if a["share_reads"] else "no", "yes" if a["share_covert"] else "no",
                      ",".join(a["excluded_purposes"]), a["effective_from"][:10],
                      a["legal_basis"], agreements.approval(a))  # fmt: skip
    console.print(table)


@app.command("policy")
def agreements_policy() -> None:
    """Your agency's sharing policy in plain words.

    Which partner receives what, since when, by whose approval; what others share with
    you; what waits for a second approver."""
    me = call(common.settings(), "GET", "/v1/me")["agency_ori"]
    for line in agreements.policy_lines(me, call(common.settings(), "GET", "/v1/agreements")):
        console.print(line)
