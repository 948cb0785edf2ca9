"""`lprx holds place|preserve|list|due|review|release`: reads kept past their date.

An investigative hold (a supervisor, a case number, a reason) or an exculpatory
preservation request (the requester's written statement) keeps the reads of a plate,
named or in a time window, their crops and hits, until the hold's review date (plus
grace); a release lets them expire at their original date, or deletes them at once if
it has passed. Every step is audited, and nothing is done until the audit is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from connectors.cassandra.holds import HoldStore
from connectors.kafka.audit import AuditTrail
from pipelines.access import Role
from pipelines.cli import common
from pipelines.cli.common import AgencyOption, UserOption, console, refusals
from pipelines.services.access import Requester
from schemas.holds import Hold, HoldKind

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


def _utc(when: datetime | None) -> datetime | None:
    return None if when is None else when.replace(tzinfo=when.tzinfo or UTC)


def _hold(kind: HoldKind, case: str, reason: str, plate: str, read_ids: list[str] | None,
          start: datetime | None, end: datetime | None, review_by: datetime | None,
          requester: str | None = None, statement: str | None = None) -> Hold:  # fmt: skip
    review = _utc(review_by) or datetime.now(UTC) + timedelta(days=90)
    return Hold(
        hold_id="", agency_ori="", kind=kind, case_number=case, reason=reason, placed_by="",
        placed_at=datetime.now(UTC), review_by=review, plate=plate, window_from=_utc(start),
        window_to=_utc(end), read_ids=frozenset(read_ids or ()), requester=requester,
        statement=statement,
    )  # fmt: skip


def _run_place(user: str, agency: str, hold: Hold) -> None:
    from pipelines.services import holds

    with _holds(Role.CUSTODIAN) as (store, trail):
        result = holds.place(store, trail, holds.Actor(user, agency), hold)
    console.print(
        f"hold {result.hold.hold_id}: {result.kept} reads of {result.hold.plate} kept until "
        f"{result.hold.held_until:%Y-%m-%d} unless reviewed (review by "
        f"{result.hold.review_by:%Y-%m-%d})"
    )


@app.command("place")
def place(
    user: UserOption, agency: AgencyOption, case: CaseOption, reason: ReasonOption,
    plate: PlateOption, read_id: ReadIdsOption = None, from_: FromOption = None,
    to: ToOption = None, review_by: ReviewOption = None,
) -> None:  # fmt: skip
    """A supervisor's investigative hold on reads of a plate (named, or in a window)."""
    _run_place(user, agency, _hold(HoldKind.INVESTIGATIVE, case, reason, plate, read_id, from_,
                                   to, review_by))  # fmt: skip


@app.command("preserve")
def preserve(
    user: UserOption, agency: AgencyOption, case: CaseOption,
    requester: Annotated[str, typer.Option(help="Who asked: the person facing the charge.")],
    statement: Annotated[str, typer.Option(help="Their written request, as received.")],
    plate: PlateOption, read_id: ReadIdsOption = None, from_: FromOption = None,
    to: ToOption = None, review_by: ReviewOption = None,
) -> None:  # fmt: skip
    """Record an exculpatory preservation request and keep the matching data."""
    reason = f"exculpatory preservation requested by {requester}"
    _run_place(user, agency, _hold(HoldKind.EXCULPATORY, case, reason, plate, read_id, from_,
                                   to, review_by, requester, statement))  # fmt: skip


def _show(found: list[Hold]) -> None:
    table = Table("hold", "kind", "case", "plate", "what", "review by", "status", "placed by")
    for h in found:
        what = (f"{len(h.read_ids)} reads" if h.read_ids else
                f"{h.window_from:%Y-%m-%d %H:%M}..{h.window_to:%Y-%m-%d %H:%M}")  # fmt: skip
        table.add_row(h.hold_id, h.kind.value.lower(), h.case_number, h.plate, what,
                      f"{h.review_by:%Y-%m-%d}", h.status.value.lower(), h.placed_by)  # fmt: skip
    console.print(table)


@app.command("list")
def list_holds(
    user: UserOption, agency: AgencyOption,
    purpose: Annotated[str, typer.Option(help="Why you look.")] = "hold register review",
    all_: Annotated[bool, typer.Option("--all", help="Released holds too.")] = False,
) -> None:  # fmt: skip
    """The holds of your agency (audited)."""
    from pipelines.services import holds

    with _holds(Role.READER) as (store, trail):
        _show(holds.listing(store, trail, _requester(user, agency, purpose), active_only=not all_))


@app.command("due")
def due(
    user: UserOption, agency: AgencyOption,
    within_days: Annotated[int, typer.Option(help="Due within this many days.")] = 14,
    purpose: Annotated[str, typer.Option(help="Why you look.")] = "scheduled hold review",
) -> None:  # fmt: skip
    """Active holds whose review is due (or overdue): run it on a schedule."""
    from pipelines.services import holds

    with _holds(Role.READER) as (store, trail):
        found = holds.due(store, trail, _requester(user, agency, purpose),
                          timedelta(days=within_days))  # fmt: skip
    _show(found)
    console.print(f"{len(found)} holds due for review within {within_days} days")


@app.command("review")
def review(
    hold_id: str, user: UserOption, agency: AgencyOption,
    review_by: Annotated[datetime, typer.Option(help="The next review-by date (UTC).")],
    note: Annotated[str, typer.Option(help="What the review found.")],
) -> None:  # fmt: skip
    """A hold reviewed and kept: its next review date, its reads kept until then."""
    from pipelines.services import holds

    when = review_by.replace(tzinfo=review_by.tzinfo or UTC)
    with _holds(Role.CUSTODIAN) as (store, trail):
        result = holds.review(store, trail, holds.Actor(user, agency), hold_id, when, note)
    console.print(
        f"hold {hold_id}: {result.kept} reads kept until {result.hold.held_until:%Y-%m-%d}"
    )


@app.command("release")
def release(
    hold_id: str, user: UserOption, agency: AgencyOption,
    note: Annotated[str, typer.Option(help="Why the hold ends (case resolved, ...).")],
) -> None:  # fmt: skip
    """End a hold: its reads expire at their original date, or now if it has passed."""
    from pipelines.services import holds

    with _holds(Role.CUSTODIAN) as (store, trail):
        result = holds.release(store, trail, holds.Actor(user, agency), hold_id, note)
    console.print(
        f"hold {hold_id} released: {result.restored} reads back to their original date, "
        f"{result.deleted} deleted (past it), {result.kept} kept by other holds"
    )


def _requester(user: str, agency: str, purpose: str) -> Requester:
    return Requester(user, agency, purpose)


@contextmanager
def _holds(role: Role) -> Iterator[tuple[HoldStore, AuditTrail]]:
    """The hold store and the audit trail, as ``role``; refusals end the command."""
    from connectors.cassandra import CassandraStore

    settings = common.settings_as(role)
    with refusals(), CassandraStore(settings, create_schema=False) as store:
        yield HoldStore(store.session, store.keyspace), AuditTrail(settings, "lprx-cli")
