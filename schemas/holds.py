"""Holds (Minnesota Statutes 13.824 subd. 3): reads kept past their destruction date.

An **investigative** hold is placed by a supervisor, with a case number and a reason, on
reads of one plate (named reads, or a time window); an **exculpatory** hold records the
written request of a person facing a charge (case or complaint number, the requester,
their statement) and keeps the matching data until the case is resolved. Both are
reviewed on a schedule: a hold has a review-by date, and the held data is kept until
that date plus ``REVIEW_GRACE`` (so a hold not reviewed in time still ends, and
``lprx holds due`` lists it before then). A released hold's data expires at its
original date, or at once if that has passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.errors import InvalidRecord
from schemas.plates import has_plate_length, normalize_plate

REVIEW_GRACE = timedelta(days=30)
LONGEST_REVIEW = timedelta(days=366)  # a hold is looked at again at least yearly
MIN_REASON_LENGTH = 10


class HoldKind(StrEnum):
    INVESTIGATIVE = "INVESTIGATIVE"
    EXCULPATORY = "EXCULPATORY"


class HoldStatus(StrEnum):
    ACTIVE = "ACTIVE"
    RELEASED = "RELEASED"


@dataclass(frozen=True)
class Hold:
    hold_id: str
    agency_ori: str
    kind: HoldKind
    case_number: str
    reason: str
    placed_by: str
    placed_at: datetime
    review_by: datetime
    plate: str
    window_from: datetime | None = None
    window_to: datetime | None = None
    read_ids: frozenset[str] = field(default_factory=frozenset)
    requester: str | None = None  # exculpatory: who asked
    statement: str | None = None  # exculpatory: their written request
    status: HoldStatus = HoldStatus.ACTIVE
    released_by: str | None = None
    released_at: datetime | None = None
    release_note: str | None = None

    @property
    def held_until(self) -> datetime:
        """What the hold keeps its data until, unless reviewed (and extended) first."""
        return self.review_by + REVIEW_GRACE

    def covers(self, plate: str, collected_at: datetime, read_id: str) -> bool:
        """Whether a read (stored now or arriving later) falls under this hold."""
        if self.status is not HoldStatus.ACTIVE or plate != self.plate:
            return False
        if self.read_ids:
            return read_id in self.read_ids
        if self.window_from is None or self.window_to is None:
            return False
        return self.window_from <= collected_at <= self.window_to


def checked_hold(hold: Hold, now: datetime) -> Hold:
    """``hold`` with its plate normalised, or ``InvalidRecord`` saying what is missing."""
    plate = normalize_plate(hold.plate)
    problems = []
    if not has_plate_length(plate):
        problems.append("a plate")
    if not hold.case_number.strip():
        problems.append("a case or complaint number")
    if len(hold.reason.strip()) < MIN_REASON_LENGTH:
        problems.append(f"a reason of at least {MIN_REASON_LENGTH} characters")
    if not hold.read_ids and (hold.window_from is None or hold.window_to is None):
        problems.append("read ids, or a time window (from and to)")
    if hold.window_from and hold.window_to and hold.window_from > hold.window_to:
        problems.append("a window whose start is before its end")
    if not now < hold.review_by <= now + LONGEST_REVIEW:
        problems.append("a review-by date in the coming year")
    if hold.kind is HoldKind.EXCULPATORY and not (hold.requester and hold.statement):
        problems.append("the requester and their written statement")
    if problems:
        raise InvalidRecord("a hold needs " + ", ".join(problems))
    return replace(hold, plate=plate)
