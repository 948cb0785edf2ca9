"""The rules of a hold: what it must name, and which reads it covers."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from schemas.errors import InvalidRecord
from schemas.holds import REVIEW_GRACE, Hold, HoldKind, HoldStatus, checked_hold
from schemas.records import utcnow

NOW = utcnow()


def a_hold(**fields: object) -> Hold:
    base = Hold("h1", "MN9990100", HoldKind.INVESTIGATIVE, "26-1", "vehicle at the scene",
                "sgt.berg", NOW, NOW + timedelta(days=30), "abc-123",
                window_from=NOW - timedelta(days=2), window_to=NOW - timedelta(days=1))  # fmt: skip
    return replace(base, **fields)  # type: ignore[arg-type]


def test_a_hold_is_normalised_and_kept_until_review_plus_grace() -> None:
    hold = checked_hold(a_hold(), NOW)
    assert hold.plate == "ABC123"
    assert hold.held_until == NOW + timedelta(days=30) + REVIEW_GRACE


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"case_number": " "}, "case or complaint number"),
        ({"reason": "because"}, "reason of at least"),
        ({"window_from": None}, "read ids, or a time window"),
        ({"review_by": NOW - timedelta(days=1)}, "review-by date"),
        ({"review_by": NOW + timedelta(days=400)}, "review-by date"),
        ({"kind": HoldKind.EXCULPATORY}, "requester and their written statement"),
        ({"plate": "!"}, "a plate"),
    ],
)
def test_a_hold_without_what_the_law_asks_is_refused(
    fields: dict[str, object], missing: str
) -> None:
    with pytest.raises(InvalidRecord, match=missing):
        checked_hold(a_hold(**fields), NOW)


def test_a_hold_covers_its_plate_in_its_window_or_its_reads_only_while_active() -> None:
    window = checked_hold(a_hold(), NOW)
    inside = NOW - timedelta(hours=36)
    assert window.covers("ABC123", inside, "r1")
    assert not window.covers("ABC124", inside, "r1")
    assert not window.covers("ABC123", NOW, "r1")
    assert not replace(window, status=HoldStatus.RELEASED).covers("ABC123", inside, "r1")
    named = replace(window, read_ids=frozenset({"r2"}))
    assert named.covers("ABC123", NOW, "r2") and not named.covers("ABC123", inside, "r1")
