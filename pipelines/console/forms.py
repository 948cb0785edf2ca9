"""The search form as the API's search request: the fields a page carries to the next,
times read as UTC, an area as a box or a circle; problems named by field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from pipelines.api import reads


def problems_of(error: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in error.errors()]


# The search form's fields, carried from one page of results to the next.
SEARCH_FIELDS = (
    "plate",
    "start",
    "end",
    "area",
    "south",
    "west",
    "north",
    "east",
    "latitude",
    "longitude",
    "radius_m",
    "purpose",
    "case_number",
    "factual_basis",
    "limit",
)


def carried(fields: Mapping[str, str]) -> dict[str, str]:
    """The query's fields, carried in the next page's form."""
    return {k: fields[k] for k in SEARCH_FIELDS if k in fields}


def _utc(value: str, name: str) -> datetime:
    """A datetime-local field, read as UTC (the form says so)."""
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{name}: not a date and time (YYYY-MM-DDTHH:MM, UTC)") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _number(fields: Mapping[str, str], name: str) -> float:
    try:
        return float(fields.get(name, "").strip())
    except ValueError:
        raise ValueError(f"{name}: not a number") from None


def search_request(fields: Mapping[str, str]) -> reads.SearchRequest:
    """The API's search request from the form; raises ``ValueError`` naming the problems."""
    body: dict[str, Any] = {
        "purpose": fields.get("purpose", ""),
        "case_number": fields.get("case_number", ""),
        "factual_basis": fields.get("factual_basis", ""),
        "plate": fields.get("plate", "").strip() or None,
        "start": _utc(fields.get("start", ""), "start"),
        "end": _utc(fields.get("end", ""), "end"),
        "limit": fields.get("limit", "50") or "50",
        "cursor": fields.get("cursor") or None,
    }
    area = fields.get("area", "none")
    if area == "box":
        body["box"] = {k: _number(fields, k) for k in ("south", "west", "north", "east")}
    elif area == "circle":
        body["circle"] = {k: _number(fields, k) for k in ("latitude", "longitude", "radius_m")}
    try:
        return reads.SearchRequest.model_validate(body)
    except ValidationError as error:
        raise ValueError("; ".join(problems_of(error))) from None
