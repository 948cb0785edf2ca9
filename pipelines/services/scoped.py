"""Hits, crops and the audit trail as a person may see them, each access audited.

- hits: those of the person's own agency's reads, and those another agency shares with
  it by an agreement in force (the agreement's categories; covert entries only if it
  shares them; matched since it took effect);
- a crop: of a read the person may search (own agency, or shared reads);
- the audit trail: an auditor sees the events of their agency; a supervisor the searches
  of their agency's people.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from connectors.kafka.audit import AuditWriter
from pipelines.services.scope import (
    Justification,
    hit_sharers,
    open_person_access,
    readable_agencies,
)
from pipelines.stages.share import AgreementBook
from schemas.errors import NotFound
from schemas.hotlist_policy import CATEGORY_PURPOSE
from schemas.people import Permission, Principal
from schemas.records import HotlistCategory, PlateCrop, SharingAgreement, utcnow


class HitStore(Protocol):
    def hits_for_agency(self, agency_ori: str, limit: int = 100) -> list[dict[str, Any]]: ...


class CropStore(Protocol):
    def plate_crop(self, read_id: str) -> PlateCrop | None: ...


class AuditStore(Protocol):
    def audit_events(self, day: str, limit: int = 100) -> list[dict[str, Any]]: ...


def _shared(row: dict[str, Any], agreement: SharingAgreement) -> bool:
    if row.get("category") not in {c.value for c in agreement.hit_categories}:
        return False
    # The stored hit keeps its category only: its purpose is the category's.
    if CATEGORY_PURPOSE[HotlistCategory(row["category"])].value in agreement.excluded_purposes:
        return False
    if row.get("covert") and not agreement.share_covert:
        return False
    matched = row.get("matched_at")
    effective = agreement.effective_from.replace(tzinfo=None)
    return matched is None or matched >= effective


def visible_hits(
    store: HitStore, trail: AuditWriter, book: AgreementBook, principal: Principal,
    limit: int, now: datetime | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The hits the person's agency holds or received, newest first (audited)."""
    now = now or utcnow()
    sharers = hit_sharers(book, principal.agency_ori, now)
    access = open_person_access(
        trail, principal, target_kind="hits", target_id=f"agency={principal.agency_ori}",
        why=None, justified=False,
        details={"from_agencies": ",".join(sorted(a.owner_agency_ori for a in sharers))},
    )  # fmt: skip
    rows = list(store.hits_for_agency(principal.agency_ori, limit))
    for agreement in sharers:
        rows += [
            r for r in store.hits_for_agency(agreement.owner_agency_ori, limit)
            if _shared(r, agreement)
        ]  # fmt: skip
    rows.sort(key=lambda r: r["matched_at"], reverse=True)
    rows = rows[:limit]
    access.shown(str(r["hit_id"]) for r in rows)
    return rows


def crop_of(
    store: CropStore, trail: AuditWriter, book: AgreementBook, principal: Principal,
    read_id: str, why: Justification, now: datetime | None = None,
) -> PlateCrop:  # fmt: skip
    """A read's plate crop, if the person may see the read (audited, justified)."""
    now = now or utcnow()
    access = open_person_access(trail, principal, target_kind="crop", target_id=read_id,
                                why=why)  # fmt: skip
    crop = store.plate_crop(read_id)
    missing = f"no crop of read {read_id} is held for {principal.agency_ori}"
    if crop is None:
        access.shown([])
        raise NotFound(missing)
    if crop.agency_ori not in readable_agencies(book, principal.agency_ori, now, why.purpose.value):
        access.deny(f"read {read_id} of {crop.agency_ori} is not shared with this agency")
        # Answered as "not held": a refusal must not confirm that the read exists.
        raise NotFound(missing)
    access.shown([read_id])
    return crop


def audit_of_agency(
    store: AuditStore, trail: AuditWriter, principal: Principal, day: str, limit: int
) -> list[dict[str, Any]]:
    """The day's audit events of the person's agency (an auditor), or only its searches
    (a supervisor reviewing them). Reading the audit trail is audited too (CJIS AU-2)."""
    searches_only = not principal.can(Permission.READ_AUDIT)
    access = open_person_access(
        trail, principal, target_kind="audit", target_id=f"day={day}", why=None,
        justified=False, details={"searches_only": str(searches_only).lower()},
    )  # fmt: skip
    agency = principal.agency_ori
    rows = [
        r
        for r in store.audit_events(day, max(limit * 20, 1000))
        if agency in (r.get("actor_agency_ori"), r.get("recipient_agency_ori"))
        and (not searches_only or r.get("action") in ("SEARCH", "ACCESS_DENIED"))
    ][:limit]
    access.shown(str(r["event_id"]) for r in rows)
    return rows
