"""`lprx holds place|preserve|list|due|review|release`: reads kept past their date.

An investigative hold (a supervisor, a case number, a reason) or an exculpatory
preservation request (the requester's written statement) keeps the reads of a plate,
named or in a time window, their crops and hits, until the hold's review date (plus
grace); a release lets them expire at their original date, or deletes them at once if
it has passed. Every step is audited, and nothing is done until the audit is written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from pipelines.cli import common
from pipelines.cli.common import console
from pipelines.cli.session import call

app = typer.Typer(help="Investigative holds and exculpatory preservation (13.824 subd. 3).")

CaseOption = Annotated[str, typer.Option(help="Case or complaint number.")]
ReasonOption = Annotated[str, typer.Option(help="Why the data must be kept.")]
PlateOption = Annotated[str, typer.Option(help="The plate whose reads are held.")]
ReadIdsOption = Annotated[list[str] | None, typer.Option("--read-id", help="A read to hold.")]
FromOption = Annotated[datetime | None, typer.Option("--from", help="Window start (UTC).")]
ToOption = Annotated[datetime | None, typer.Option("--to", help="Window end (UTC).")]
ReviewOption = Annotated[
    datetime | None, typer.Option(help="Review-by date (UTC); default in 90 days.")
]


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.replace(tzinfo=when.tzinfo or UTC).isoformat()


def _what(plate: str, read_ids: list[str] | None, start: datetime | None, end: datetime | None,
          review_by: datetime | None) -> dict[str, Any]:  # fmt: skip
    return {"plate": plate, "read_ids": read_ids or [], "window_from": _iso(start),
            "window_to": _iso(end), "review_by": _iso(review_by)}  # fmt: skip


def _placed(answer: dict[str, Any]) -> None:
    hold = answer["hold"]
    console.print(
        f"hold {hold['hold_id']}: {answer['kept']} reads of {hold['plate']} kept until "
        f"{hold['held_until'][:10]} unless reviewed (review by {hold['review_by'][:10]})"
    )


@app.command("place")
def place(
    case: CaseOption, reason: ReasonOption, plate: PlateOption, read_id: ReadIdsOption = None,
    from_: FromOption = None, to: ToOption = None, review_by: ReviewOption = None,
) -> None:  # fmt: skip
    """A supervisor's investigative hold on reads of a plate (named, or in a window),
    through the API as the logged-in person (audited)."""
    body = {"case_number": case, "reason": reason, **_what(plate, read_id, from_, to, review_by)}
    _placed(call(common.settings(), "POST", "/v1/holds", json=body))


@app.command("preserve")
def preserve(
    case: CaseOption,
    requester: Annotated[str, typer.Option(help="Who asked: the person facing the charge.")],
    statement: Annotated[str, typer.Option(help="Their written request, as received.")],
    plate: PlateOption, read_id: ReadIdsOption = None, from_: FromOption = None,
    to: ToOption = None, review_by: ReviewOption = None,
) -> None:  # fmt: skip
    """Record an exculpatory preservation request and keep the matching data."""
    body = {"case_number": case, "requester": requester, "statement": statement,
            **_what(plate, read_id, from_, to, review_by)}  # fmt: skip
    _placed(call(common.settings(), "POST", "/v1/holds/preserve", json=body))


def _show(found: list[dict[str, Any]]) -> None:
    table = Table("hold", "kind", "case", "plate", "what", "review by", "status", "placed by")
    for h in found:
        what = (f"{len(h['read_ids'])} reads" if h["read_ids"] else
                f"{h['window_from'][:16]}..{h['window_to'][:16]}")  # fmt: skip
        table.add_row(h["hold_id"], h["kind"].lower(), h["case_number"], h["plate"], what,
                      h["review_by"][:10], h["status"].lower(), h["placed_by"])  # fmt: skip
    console.print(table)


@app.command("list")
def list_holds(
    all_: Annotated[bool, typer.Option("--all", help="Released holds too.")] = False,
) -> None:
    """The holds of your agency (audited)."""
    _show(call(common.settings(), "GET", "/v1/holds", params={"all": all_}))


@app.command("due")
def due(
    within_days: Annotated[int, typer.Option(help="Due within this many days.")] = 14,
) -> None:
    """Active holds whose review is due (or overdue): run it on a schedule."""
    found = call(common.settings(), "GET", "/v1/holds/due", params={"within_days": within_days})
    _show(found)
    console.print(f"{len(found)} holds due for review within {within_days} days")


@app.command("review")
def review(
    hold_id: str,
    review_by: Annotated[datetime, typer.Option(help="The next review-by date (UTC).")],
    note: Annotated[str, typer.Option(help="What the review found.")],
) -> None:
    """A hold reviewed and kept: its next review date, its reads kept until then."""
    answer = call(common.settings(), "POST", f"/v1/holds/{quote(hold_id, safe='')}/review",
                  json={"review_by": _iso(review_by), "note": note})  # fmt: skip
    console.print(f"hold {hold_id}: {answer['kept']} reads kept until "
                  f"{answer['hold']['held_until'][:10]}")  # fmt: skip


@app.command("release")
def release(
    hold_id: str,
    note: Annotated[str, typer.Option(help="Why the hold ends (case resolved, ...).")],
) -> None:
    """End a hold: its reads expire at their original date, or now if it has passed."""
    answer = call(
        common.settings(),
        "POST",
        f"/v1/holds/{quote(hold_id, safe='')}/release",
        json={"note": note},
    )
    console.print(
        f"hold {hold_id} released: {answer['restored']} reads back to their original date, "
        f"{answer['deleted']} deleted (past it), {answer['kept']} kept by other holds"
    )
