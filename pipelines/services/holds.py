"""Investigative holds and exculpatory preservation (13.824 subd. 3), every step audited.

``place`` records the hold, then keeps each read it covers (every copy: the read, its
spelling row, crop and hits) until the hold's review date plus grace, or its original
date if later. ``review`` moves the review date (and the held data's end with it).
``release`` lets each read expire at its original date, or at once (within the second) if that
has passed, unless another active hold still covers it. ``listing`` and ``due`` show
holds (they name plates, so they are audited accesses). Each step's audit event is
acknowledged by Kafka before the step: no audit, no action.

The actor is the authenticated person (a ``Principal``): the API checks the role
(``Permission.HOLD_READS``, a supervisor) and a hold acts on the actor's agency only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from connectors.cassandra.holds import HeldRead
from connectors.kafka.audit import AuditWriter
from pipelines.services.scope import open_person_access
from schemas.errors import AccessDenied, NotFound, TransientError
from schemas.holds import Hold, HoldStatus, checked_hold
from schemas.people import Principal
from schemas.records import AuditAction, AuditEvent, new_id, utcnow


class Holds(Protocol):
    def save(self, hold: Hold) -> None: ...
    def hold(self, hold_id: str) -> Hold | None: ...
    def holds(self) -> list[Hold]: ...
    def reads_of(self, hold: Hold) -> list[HeldRead]: ...
    def keep(self, holds: Sequence[Hold], read: HeldRead, now: datetime) -> bool: ...
    def held_reads(self, hold_id: str) -> list[HeldRead]: ...
    def forget_held(self, hold_id: str, reads: Sequence[HeldRead]) -> None: ...
    def holds_of_read(self, read_id: str) -> list[str]: ...
    def rewrite(self, read: HeldRead, until: datetime, now: datetime) -> int: ...
    def expire_now(self, read: HeldRead, now: datetime) -> int: ...


@dataclass(frozen=True)
class HoldResult:
    hold: Hold
    kept: int = 0  # reads kept (held), or kept by another hold on release
    restored: int = 0  # reads given back their original expiry
    deleted: int = 0  # reads past their original date, expired at release


def _audit(trail: AuditWriter, actor: Principal, hold: Hold, step: str, **details: str) -> None:
    try:
        trail.record_acknowledged(
            AuditEvent(
                event_id=new_id(),
                occurred_at=utcnow(),
                actor=actor.username,
                actor_agency_ori=actor.agency_ori,
                action=AuditAction.HOLD,
                purpose=f"{hold.kind.value.lower()} hold, case {hold.case_number}",
                target_kind="hold",
                target_id=hold.hold_id,
                details={"step": step, "plate": hold.plate, **details},
            )
        )
    except TransientError as error:
        raise TransientError(
            f"the audit trail could not be written, so nothing was done ({error})"
        ) from error


def _keep(holds: Holds, hold: Hold, now: datetime) -> int:
    return sum(1 for read in holds.reads_of(hold) if holds.keep([hold], read, now))


def place(holds: Holds, trail: AuditWriter, actor: Principal, hold: Hold) -> HoldResult:
    """Records the hold and keeps the reads it covers. ``hold`` comes with its fields
    (a new id and ``placed_at`` are set here); ``InvalidRecord`` if one is missing."""
    now = utcnow()
    hold = checked_hold(
        replace(hold, hold_id=hold.hold_id or new_id(), placed_at=now, placed_by=actor.username,
                agency_ori=actor.agency_ori, status=HoldStatus.ACTIVE),
        now,
    )  # fmt: skip
    window = (
        f"{hold.window_from:%Y-%m-%dT%H:%M:%SZ}..{hold.window_to:%Y-%m-%dT%H:%M:%SZ}"
        if hold.window_from and hold.window_to
        else ""
    )
    _audit(trail, actor, hold, "place", reason=hold.reason, window=window,
           read_ids=",".join(sorted(hold.read_ids)), review_by=hold.review_by.isoformat(),
           requester=hold.requester or "")  # fmt: skip
    holds.save(hold)
    kept = _keep(holds, hold, now)
    _audit(trail, actor, hold, "kept", reads=str(kept))
    return HoldResult(hold, kept=kept)


def _active(holds: Holds, hold_id: str, actor: Principal) -> Hold:
    hold = holds.hold(hold_id)
    if hold is None:
        raise NotFound(f"no hold {hold_id}")
    if hold.agency_ori != actor.agency_ori:
        raise AccessDenied(f"hold {hold_id} belongs to another agency")
    if hold.status is not HoldStatus.ACTIVE:
        raise NotFound(f"hold {hold_id} was released on {hold.released_at:%Y-%m-%d}")
    return hold


def review(
    holds: Holds, trail: AuditWriter, actor: Principal, hold_id: str, review_by: datetime, note: str
) -> HoldResult:
    """The hold reviewed and kept: a new review date; its reads kept until then + grace."""
    now = utcnow()
    hold = _active(holds, hold_id, actor)
    hold = checked_hold(replace(hold, review_by=review_by), now)
    _audit(trail, actor, hold, "review", review_by=review_by.isoformat(), note=note)
    holds.save(hold)
    return HoldResult(hold, kept=_keep(holds, hold, now))


def release(
    holds: Holds, trail: AuditWriter, actor: Principal, hold_id: str, note: str
) -> HoldResult:
    """Ends the hold: each read expires at its original date (at once if that passed),
    unless another active hold still covers it."""
    now = utcnow()
    hold = _active(holds, hold_id, actor)
    _audit(trail, actor, hold, "release", note=note)
    released = replace(
        hold, status=HoldStatus.RELEASED, released_by=actor.username, released_at=now,
        release_note=note,
    )  # fmt: skip
    holds.save(released)
    kept = restored = deleted = 0
    held = holds.held_reads(hold_id)
    for read in held:
        others = [
            other
            for other_id in holds.holds_of_read(read.read_id)
            if other_id != hold_id and (other := holds.hold(other_id)) is not None
            if other.status is HoldStatus.ACTIVE
        ]
        if others:
            kept += 1 if holds.keep(others, read, now) else 0
        elif read.expires_at > now:
            restored += 1 if holds.rewrite(read, read.expires_at, now) else 0
        else:
            deleted += 1 if holds.expire_now(read, now) else 0
    holds.forget_held(hold_id, held)
    _audit(trail, actor, released, "released", restored=str(restored), deleted=str(deleted),
           kept_by_other_holds=str(kept))  # fmt: skip
    return HoldResult(released, kept=kept, restored=restored, deleted=deleted)


def listing(
    holds: Holds, trail: AuditWriter, principal: Principal, *, active_only: bool = True
) -> list[Hold]:
    """The holds of the person's agency (audited with the holds shown: they name plates)."""
    agency = principal.agency_ori
    access = open_person_access(
        trail, principal, target_kind="holds", target_id=agency, why=None, justified=False,
        details={"query": f"holds, active only: {active_only}"},
    )  # fmt: skip
    found = [
        h
        for h in holds.holds()
        if h.agency_ori == agency and (h.status is HoldStatus.ACTIVE or not active_only)
    ]
    found.sort(key=lambda h: h.review_by)
    access.shown(h.hold_id for h in found)
    return found


def due(holds: Holds, trail: AuditWriter, principal: Principal, within: timedelta) -> list[Hold]:
    """Active holds of the agency whose review is due within ``within`` (or overdue)."""
    agency = principal.agency_ori
    access = open_person_access(
        trail, principal, target_kind="holds", target_id=f"due {agency}", why=None,
        justified=False, details={"query": f"holds due within {within}"},
    )  # fmt: skip
    limit = utcnow() + within
    found = [
        h
        for h in holds.holds()
        if h.agency_ori == agency and h.status is HoldStatus.ACTIVE and h.review_by <= limit
    ]
    found.sort(key=lambda h: h.review_by)
    access.shown(h.hold_id for h in found)
    return found


def holds_covering(
    active: list[Hold], plate: str, collected_at: datetime, read_id: str
) -> list[Hold]:
    """The active holds a read falls under (the store keeps a read arriving later so)."""
    return [h for h in active if h.covers(plate, collected_at, read_id)]
