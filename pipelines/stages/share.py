"""Jurisdiction-scoped sharing: who receives a hit, by agreement only."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Lock

from schemas.hotlist_policy import JurisdictionPolicy, entry_purpose
from schemas.keys import PENDING_SUFFIX
from schemas.plates import confusable_key
from schemas.records import (
    AuditAction,
    AuditEvent,
    Hit,
    SharingAgreement,
    dissemination_id_for,
)
from schemas.sharing import shares_for

STAGE = "share"
SERVICE_ACTOR = "svc:share"


class AgreementBook:
    """Agreements in force, kept current from the compacted agreements topic, and the
    widenings waiting for a second approver (in force only once approved)."""

    def __init__(self, agreements: Iterable[SharingAgreement] = ()) -> None:
        self._by_id: dict[str, SharingAgreement] = {}
        self._pending: dict[str, SharingAgreement] = {}
        self._lock = Lock()
        for agreement in agreements:
            self.put(agreement)

    def apply(self, key: str, agreement: SharingAgreement) -> None:
        """A record of the agreements topic: the terms in force, or a pending widening."""
        if key.endswith(PENDING_SUFFIX):
            self.put_pending(agreement)
        else:
            self.put(agreement)

    def remove(self, key: str) -> None:
        """A tombstone of the agreements topic."""
        if key.endswith(PENDING_SUFFIX):
            self.drop_pending(key.removesuffix(PENDING_SUFFIX))
        else:
            self.revoke(key)

    def put_pending(self, agreement: SharingAgreement) -> None:
        with self._lock:
            self._pending[agreement.agreement_id] = agreement

    def drop_pending(self, agreement_id: str) -> None:
        with self._lock:
            self._pending.pop(agreement_id, None)

    def agreement(self, agreement_id: str) -> SharingAgreement | None:
        with self._lock:
            return self._by_id.get(agreement_id)

    def pending(self, agreement_id: str) -> SharingAgreement | None:
        with self._lock:
            return self._pending.get(agreement_id)

    def pending_of(self, agency_ori: str) -> list[SharingAgreement]:
        """The widenings waiting, of which the agency is owner or partner."""
        with self._lock:
            return [a for a in self._pending.values()
                    if agency_ori in (a.owner_agency_ori, a.partner_agency_ori)]  # fmt: skip

    def __len__(self) -> int:
        return len(self._by_id)

    def put(self, agreement: SharingAgreement) -> None:
        with self._lock:
            self._by_id[agreement.agreement_id] = agreement

    def revoke(self, agreement_id: str) -> None:
        with self._lock:
            self._by_id.pop(agreement_id, None)

    def from_owner(self, owner_ori: str) -> list[SharingAgreement]:
        with self._lock:
            return [a for a in self._by_id.values() if a.owner_agency_ori == owner_ori]

    def to_partner(self, partner_ori: str) -> list[SharingAgreement]:
        with self._lock:
            return [a for a in self._by_id.values() if a.partner_agency_ori == partner_ori]


def suppression_key(hit: Hit) -> str:
    """What a repeat shares: the plate with confusables folded, and the entry."""
    return f"{confusable_key(hit.read.plate)}/{hit.entry.entry_id}"


class HitSuppressor:
    """Remembers when each (plate, entry) last alerted, the plate with confusables
    folded (a car read as ``ABC1234`` then ``A8C1234`` is one car); a repeat within the
    window is suppressed (stored and counted, not re-alerted). Historical hits (past
    sightings of a new entry's plate) are each delivered and do not hold back a live
    hit: a car seen now is news.

    Memory is bounded by the window twice over: an alert is forgotten once a later hit
    is a window past it (read time, ``at``), and once it was written a window ago (wall
    time, ``seen``: ``expire``), so a quiet partition forgets its plates too. The worker
    keeps one per partition of the hits topic (hits are keyed by folded plate,
    ``schemas.keys.hit_key``), written through to a changelog (``take_changes``,
    ``remember``; ``pipelines/runtime/share.py``) so a restarted or rebalanced worker
    does not alert a repeat again."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self._alerted: OrderedDict[str, datetime] = OrderedDict()
        self._seen: dict[str, datetime] = {}
        self._changed: set[str] = set()
        self._removed: set[str] = set()

    def __len__(self) -> int:
        return len(self._alerted)

    def should_alert(self, hit: Hit, now: datetime | None = None) -> bool:
        """Whether ``hit`` alerts; if so it is remembered, as seen at ``now`` (wall
        time; its read time if not given)."""
        if hit.historical:
            return True
        key = suppression_key(hit)
        at = hit.read.collected_at
        last = self._alerted.get(key)
        if last is not None and abs(at - last) < self.window:
            return False
        self.remember(key, at, now)
        self._changed.add(key)
        horizon = at - self.window
        while self._alerted:
            oldest_key, oldest = next(iter(self._alerted.items()))
            if oldest >= horizon:
                break
            self._forget(oldest_key)
        return True

    def remember(self, key: str, at: datetime, seen: datetime | None = None) -> None:
        """Records an alert (from the changelog, when a worker takes over a partition)."""
        self._alerted[key] = at
        self._alerted.move_to_end(key)
        self._seen[key] = seen or at

    def seen(self, key: str) -> datetime:
        return self._seen[key]

    def expire(self, now: datetime) -> None:
        """Forgets the alerts written more than a window before ``now``."""
        horizon = now - self.window
        for key in [k for k, seen in self._seen.items() if seen < horizon]:
            self._forget(key)

    def _forget(self, key: str) -> None:
        del self._alerted[key]
        self._seen.pop(key, None)
        self._removed.add(key)

    def take_changes(self) -> tuple[dict[str, datetime], set[str]]:
        """Alerts to write and keys to delete since the last call; forgets them."""
        changed = {k: self._alerted[k] for k in self._changed if k in self._alerted}
        removed = self._removed - changed.keys()
        self._changed, self._removed = set(), set()
        return changed, removed


class DeliveredHits:
    """The ids of the hits delivered in the last window (wall time): a hit that comes
    again (a replay upstream; historical hits, which suppression lets through) is not
    delivered again. Hit ids are the same however often a read is matched
    (``schemas.records.hit_id_for``)."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self._at: OrderedDict[str, datetime] = OrderedDict()
        self._changed: set[str] = set()
        self._removed: set[str] = set()

    def __len__(self) -> int:
        return len(self._at)

    def __contains__(self, hit_id: object) -> bool:
        return hit_id in self._at

    def add(self, hit_id: str, now: datetime) -> None:
        self.remember(hit_id, now)
        self._changed.add(hit_id)

    def remember(self, hit_id: str, at: datetime) -> None:
        self._at[hit_id] = at
        self._at.move_to_end(hit_id)

    def at(self, hit_id: str) -> datetime:
        return self._at[hit_id]

    def expire(self, now: datetime) -> None:
        horizon = now - self.window
        for hit_id in [h for h, at in self._at.items() if at < horizon]:
            del self._at[hit_id]
            self._removed.add(hit_id)

    def take_changes(self) -> tuple[dict[str, datetime], set[str]]:
        changed = {h: self._at[h] for h in self._changed if h in self._at}
        removed = self._removed - changed.keys()
        self._changed, self._removed = set(), set()
        return changed, removed


class ShareMemory:
    """What one partition of the hits topic remembers: alerts, and delivered hits."""

    def __init__(self, window: timedelta) -> None:
        self.alerts = HitSuppressor(window)
        self.delivered = DeliveredHits(window)

    def admit(self, hit: Hit, now: datetime) -> str:
        """``ok`` (deliver it), ``duplicate`` (delivered already) or ``suppressed``."""
        if hit.hit_id in self.delivered:
            return "duplicate"
        if not self.alerts.should_alert(hit, now):
            return "suppressed"
        self.delivered.add(hit.hit_id, now)
        return "ok"

    def expire(self, now: datetime) -> None:
        self.alerts.expire(now)
        self.delivered.expire(now)


@dataclass(frozen=True)
class Delivery:
    recipient_ori: str
    agreement_id: str | None  # None: the owning agency's own hit


def covers(
    agreement: SharingAgreement, hit: Hit, now: datetime,
    policies: Mapping[str, JurisdictionPolicy] | None = None,
) -> bool:  # fmt: skip
    return (
        agreement.in_force(now)
        and hit.entry.category in agreement.hit_categories
        and (agreement.share_covert or not hit.entry.covert)
        and shares_for(agreement, entry_purpose(hit.entry).value, policies or {})
    )


def deliveries(
    hit: Hit, book: AgreementBook, now: datetime,
    policies: Mapping[str, JurisdictionPolicy] | None = None,
) -> list[Delivery]:  # fmt: skip
    """The owning agency always gets its own hit; a partner only when an agreement in
    force covers the hit's category (and covert entries only when it says so), does not
    exclude the purpose of the hit's entry, and the owner's jurisdiction does not bar
    the partner. A widening waiting for its second approver is not in force."""
    owner = hit.read.agency_ori
    result = [Delivery(owner, None)]
    for agreement in book.from_owner(owner):
        if agreement.partner_agency_ori != owner and covers(agreement, hit, now, policies):
            result.append(Delivery(agreement.partner_agency_ori, agreement.agreement_id))
    return result


def dissemination_audit(hit: Hit, delivery: Delivery, now: datetime) -> AuditEvent:
    """The DISSEMINATE event of one delivery, its id the delivery's own."""
    details = {"plate_category": hit.entry.category.value, "entry_id": hit.entry.entry_id}
    if delivery.agreement_id:
        details["agreement_id"] = delivery.agreement_id
    return AuditEvent(
        event_id=dissemination_id_for(hit.hit_id, delivery.recipient_ori),
        occurred_at=now,
        actor=SERVICE_ACTOR,
        actor_agency_ori=hit.read.agency_ori,
        action=AuditAction.DISSEMINATE,
        target_kind="hit",
        target_id=hit.hit_id,
        recipient_agency_ori=delivery.recipient_ori,
        details=details,
    )
