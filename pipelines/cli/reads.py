"""Audited look-ups through the API, as the logged-in person: `lprx reads search`,
`lprx audit`, `lprx deadletters`. Each is scoped to what the person's agency may see,
and shows nothing until the API has audited it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from pipelines.cli import common
from pipelines.cli.common import console, fail
from pipelines.cli.session import call
from schemas.people import Purpose

app = typer.Typer(help="Audited look-ups of stored reads.")


def _floats(text: str, count: int, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise fail(f"{what}: {count} comma-separated numbers")
    return values


def _when(text: str | None, default: datetime) -> datetime:
    if text is None:
        return default
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{text!r} is not an ISO 8601 time") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@app.command("search")
def reads_search(
    purpose: Annotated[Purpose, typer.Option(help="Why (a fixed list).")],
    case: Annotated[str, typer.Option(help="Case, complaint or incident number.")],
    basis: Annotated[str, typer.Option(help="The factual basis: why these reads matter.")],
    plate: Annotated[str | None, typer.Argument(help="Full, or partial with * and ?.")] = None,
    start: Annotated[str | None, typer.Option(help="ISO time; default 7 days ago.")] = None,
    end: Annotated[str | None, typer.Option(help="ISO time; default now.")] = None,
    box: Annotated[str | None, typer.Option(help="south,west,north,east")] = None,
    near: Annotated[str | None, typer.Option(help="latitude,longitude,radius_m")] = None,
    agency: Annotated[list[str] | None, typer.Option(help="Only this agency; repeatable.")] = None,
    limit: int = 50,
    cursor: Annotated[str | None, typer.Option(help="The next page's cursor.")] = None,
) -> None:
    """Search stored reads your agency may see. Every search is audited with its
    purpose, case number, factual basis, query and the reads returned."""
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "plate": plate, "purpose": purpose.value, "case_number": case, "factual_basis": basis,
        "start": _when(start, now - timedelta(days=7)).isoformat(),
        "end": _when(end, now).isoformat(), "agencies": agency or [], "limit": limit,
        "cursor": cursor,
    }  # fmt: skip
    if box:
        s, w, n, e = _floats(box, 4, "--box")
        body["box"] = {"south": s, "west": w, "north": n, "east": e}
    if near:
        lat, lon, radius = _floats(near, 3, "--near")
        body["circle"] = {"latitude": lat, "longitude": lon, "radius_m": radius}
    found = call(common.settings(), "POST", "/v1/reads/search", json=body)
    table = Table("collected", "plate", "agency", "camera", "confidence", "where", "expires")
    for r in found["reads"]:
        where = f"{r['latitude']:.4f},{r['longitude']:.4f}" if r["latitude"] is not None else ""
        table.add_row(r["collected_at"][:19], r["plate"], r["agency_ori"], r["camera_id"],
                      f"{r['confidence']:.1f}", where, r["expires_at"][:10])  # fmt: skip
    console.print(table)
    console.print(f"{len(found['reads'])} reads of {', '.join(found['agencies'])}; this search "
                  "was recorded in the audit trail")  # fmt: skip
    if found["scan_limited"]:
        console.print("[yellow]the search stopped at its scan limit: narrow it[/yellow]")
    if found["next_cursor"]:
        console.print(f"next page: --cursor '{found['next_cursor']}'")


def audit(
    day: Annotated[str | None, typer.Option(help="UTC day YYYY-MM-DD, default today.")] = None,
    limit: int = 100,
) -> None:
    """The audit trail of your agency on a day (auditors; supervisors: its searches).
    Reading the audit trail is audited too (CJIS)."""
    rows = call(common.settings(), "GET", "/v1/audit",
                params={"limit": limit, **({"day": day} if day else {})})  # fmt: skip
    table = Table("when", "actor", "agency", "action", "target", "recipient", "outcome", "purpose")
    for row in rows:
        table.add_row(
            row["occurred_at"][11:19], row["actor"], row["actor_agency_ori"] or "",
            row["action"], f"{row['target_kind']}:{row['target_id']}"[:40],
            row["recipient_agency_ori"] or "", row["outcome"], (row["purpose"] or "")[:30],
        )  # fmt: skip
    console.print(table)


def deadletters(max_messages: int = 50) -> None:
    """Dead letters: stage, reason and source, without their bytes (operators; audited)."""
    letters = call(common.settings(), "GET", "/v1/deadletters",
                   params={"max_messages": max_messages})  # fmt: skip
    table = Table("when", "stage", "error", "reason", "source", "bytes")
    for d in letters:
        table.add_row(d["occurred_at"][11:19], d["stage"], d["error_type"], d["reason"][:80],
                      d["source"], str(d["bytes"]))  # fmt: skip
    console.print(table)
