"""`lprx partner hits | dispose`: the hits of your agency (and shared with it), and what
your agency decided about one, as the logged-in person."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli import common
from pipelines.cli.common import console
from pipelines.cli.session import call
from schemas.records import Disposition

app = typer.Typer(help="The hits your agency holds or receives.")


@app.command("hits")
def partner_hits(limit: int = 50) -> None:
    """The hits of your agency and those shared with it by agreement (audited)."""
    hits = call(common.settings(), "GET", "/v1/hits", params={"limit": limit})
    table = Table("matched at", "hit", "plate", "category", "of agency", "camera", "expires",
                  "disposition", "verify")  # fmt: skip
    for h in hits:
        # A possible misread: confirm the plate visually and with NCIC before acting.
        verify = "VERIFY" if h.get("needs_verification") else ""
        table.add_row(h["matched_at"][:19], h["hit_id"][:8], h["plate"], h["category"],
                      h["agency_ori"], h["camera_id"], (h["expires_at"] or "")[:10],
                      h.get("disposition") or "", verify)  # fmt: skip
    console.print(table)


@app.command("dispose")
def partner_dispose(
    hit_id: str,
    disposition: Disposition,
    note: Annotated[str | None, typer.Option(help="A short note kept with it.")] = None,
) -> None:
    """Record what your agency decided about a hit it holds or received."""
    call(common.settings(), "POST", f"/v1/hits/{hit_id}/disposition",
         json={"disposition": disposition.value, "note": note})  # fmt: skip
    console.print(f"hit {hit_id}: {disposition.value} recorded")
