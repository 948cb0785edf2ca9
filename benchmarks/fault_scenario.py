"""What the fault suite sends and what it must find: the plan and the checks.

Plain data and functions, no servers: ``make_plan`` draws the reads, the hotlist and the
agreements from a seed; ``check`` compares what the cameras got accepted with what
Cassandra holds and what each agency's hit topic received.

A camera read is known by what the camera itself sends: camera, plate and collection
time (``ReadKey``). The ingest gives a read its id when it takes it, so a post retried
after a 503 carries new ids, while Kafka may still hold the first attempt's copy under
its old id; dedup folds the two into one pass and may keep either. So "stored" and
"delivered" are judged per camera read, and the read ids only tell which attempt won.
"""

from __future__ import annotations

import random
import string
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.plates import confusable_key, deletions
from schemas.records import HotlistCategory, HotlistEntry, SharingAgreement

OWNER = "MN9990001"
PARTNER_A = "MN9990002"
PARTNER_B = "MN9990003"
# Holds an agreement for a category no entry has: its topic must stay empty.
BYSTANDER = "MN9990004"
AGENCIES = (OWNER, PARTNER_A, PARTNER_B, BYSTANDER)

AGREED: dict[str, tuple[HotlistCategory, ...]] = {
    PARTNER_A: (HotlistCategory.STOLEN_VEHICLE, HotlistCategory.STOLEN_PLATE),
    PARTNER_B: (HotlistCategory.STOLEN_PLATE, HotlistCategory.WANTED_PERSON),
    BYSTANDER: (HotlistCategory.AMBER_ALERT,),
}
# Hit categories in turn: A only, B only, A and B, the owner alone.
HIT_CATEGORIES = (
    HotlistCategory.STOLEN_VEHICLE,
    HotlistCategory.WANTED_PERSON,
    HotlistCategory.STOLEN_PLATE,
    HotlistCategory.MISSING_PERSON,
)
PLATE_CHARACTERS = string.ascii_uppercase + string.digits
PLATE_LENGTH = 7
UNREAD_ENTRIES = 100  # hotlist entries no read hits, so the list is more than the hits


@dataclass(frozen=True, order=True)
class ReadKey:
    """A camera read as the camera knows it (collection time in epoch milliseconds)."""

    camera_id: str
    plate: str
    collected_ms: int


@dataclass(frozen=True)
class PlannedRead:
    index: int
    camera_id: str
    plate: str
    entry: HotlistEntry | None  # the hotlist entry it hits, if any


@dataclass(frozen=True)
class Plan:
    reads: list[PlannedRead]
    entries: list[HotlistEntry]
    agreements: list[SharingAgreement]
    cameras: list[str]

    @property
    def hot_reads(self) -> int:
        return sum(read.entry is not None for read in self.reads)


def recipients(category: HotlistCategory) -> frozenset[str]:
    """Who must receive a hit of ``category``: the owner, and the partners agreed."""
    return frozenset({OWNER} | {ori for ori, cats in AGREED.items() if category in cats})


def _neighbourhood(plate: str) -> set[str]:
    # Two plates within one edit (after folding confusables) share an element of these
    # sets; some plates two edits apart do too, which only makes the draw stricter.
    key = confusable_key(plate)
    return {key, *deletions(key)}


class _PlateDraw:
    """Random plates, none within one edit (confusables folded) of a hotlist plate, of
    another plate read on the same camera, or equal to any plate drawn before; and no
    hotlist plate within one edit of a read other than its own (entries never read are
    drawn after the reads)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.hot: set[str] = set()
        # Every read's: an entry drawn after the reads (never read) must not be near one.
        self.read: set[str] = set()
        self.by_camera: dict[str, set[str]] = {}

    def _candidate(self) -> str:
        return "".join(self.rng.choice(PLATE_CHARACTERS) for _ in range(PLATE_LENGTH))

    def hot_plate(self) -> str:
        while True:
            plate = self._candidate()
            near = _neighbourhood(plate)
            if plate not in self.used and not near & (self.hot | self.read):
                self.used.add(plate)
                self.hot |= near
                return plate

    def read_plate(self, camera_id: str, hot: str | None) -> str:
        seen = self.by_camera.setdefault(camera_id, set())
        while True:
            plate = hot or self._candidate()
            near = _neighbourhood(plate)
            if hot is None and (plate in self.used or near & self.hot):
                continue
            if near & seen:
                if hot is not None:
                    raise ValueError("a hot plate drawn near another read of its camera")
                continue
            self.used.add(plate)
            seen |= near
            self.read |= near
            return plate


def make_plan(n_reads: int, seed: int, hit_share: float, cameras: int | None = None) -> Plan:
    """``n_reads`` reads over ``cameras`` cameras (default: about 40 reads each), of which
    ``hit_share`` hit one hotlist entry each (every entry is hit at most once, so hit
    suppression never holds a hit back)."""
    rng = random.Random(seed)
    n_cameras = cameras or max(4, n_reads // 40)
    camera_ids = [f"fault-cam-{i:03d}" for i in range(n_cameras)]
    draw = _PlateDraw(rng)
    n_hot = round(n_reads * hit_share)
    hot_indexes = set(rng.sample(range(n_reads), n_hot))
    now = datetime.now(UTC)
    entries: list[HotlistEntry] = []

    def entry(plate: str, category: HotlistCategory) -> HotlistEntry:
        made = HotlistEntry(
            entry_id=f"faults:MN:{plate}",
            list_id="faults",
            source="NCIC",
            category=category,
            owning_agency_ori=OWNER,
            plate=plate,
            plate_state="MN",
            effective_at=now - timedelta(days=1),
        )
        entries.append(made)
        return made

    reads: list[PlannedRead] = []
    for index in range(n_reads):
        camera_id = rng.choice(camera_ids)
        hit = None
        if index in hot_indexes:
            hit = entry(draw.hot_plate(), HIT_CATEGORIES[len(entries) % len(HIT_CATEGORIES)])
        plate = draw.read_plate(camera_id, hit.plate if hit else None)
        reads.append(PlannedRead(index, camera_id, plate, hit))
    for i in range(UNREAD_ENTRIES):
        entry(draw.hot_plate(), HIT_CATEGORIES[i % len(HIT_CATEGORIES)])
    agreements = [
        SharingAgreement(
            agreement_id=f"{OWNER}->{partner}",
            owner_agency_ori=OWNER,
            partner_agency_ori=partner,
            hit_categories=categories,
            effective_from=now - timedelta(days=1),
            legal_basis="fault suite",
            approved_by="fault.suite",
        )
        for partner, categories in AGREED.items()
    ]
    return Plan(reads, entries, agreements, camera_ids)


# --- what came back ------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRead:
    key: ReadKey
    read_id: str


@dataclass(frozen=True)
class Delivery:
    """One message on an agency's hit topic."""

    recipient: str
    hit_id: str
    read: ReadKey
    read_id: str
    entry_id: str


@dataclass
class Posted:
    """Every read a camera posted at least once, and the id the 202 gave each read
    that was accepted. A read posted but never accepted may still arrive (Kafka took a
    503'd attempt): no fault, but not counted as accepted either."""

    reads: dict[ReadKey, PlannedRead] = field(default_factory=dict)
    accepted: dict[ReadKey, str] = field(default_factory=dict)
    accepted_at: dict[ReadKey, float] = field(default_factory=dict)  # epoch seconds


def lost_reads(posted: Posted, stored: Iterable[StoredRead]) -> list[ReadKey]:
    """The accepted camera reads that no row holds."""
    held = {row.key for row in stored}
    return sorted(key for key in posted.accepted if key not in held)


def check(
    posted: Posted, stored: Iterable[StoredRead], deliveries: Iterable[Delivery]
) -> dict[str, Any]:
    """The counts of the suite's verdict (see the module docstring)."""
    planned_keys = posted.reads
    accepted = posted.accepted
    stored_ids: dict[ReadKey, set[str]] = {}
    unexpected_reads = 0
    for row in stored:
        if row.key not in planned_keys:
            unexpected_reads += 1
            continue
        stored_ids.setdefault(row.key, set()).add(row.read_id)
    lost = duplicated = other_id = 0
    for key, read_id in accepted.items():
        ids = stored_ids.get(key, set())
        if not ids:
            lost += 1
            continue
        duplicated += len(ids) - 1  # the same read stored under several attempts' ids
        if read_id not in ids:
            other_id += 1

    expected: set[tuple[str, ReadKey, str]] = set()
    for key in accepted:
        entry = planned_keys[key].entry
        if entry is not None:
            expected |= {(ori, key, entry.entry_id) for ori in recipients(entry.category)}
    copies: Counter[tuple[str, ReadKey, str]] = Counter()
    same_id: Counter[tuple[str, str]] = Counter()
    misdelivered = 0
    unplanned: list[dict[str, object]] = []
    for delivery in deliveries:
        slot = (delivery.recipient, delivery.read, delivery.entry_id)
        planned = planned_keys.get(delivery.read)
        entitled = (
            planned is not None
            and planned.entry is not None
            and planned.entry.entry_id == delivery.entry_id
            and delivery.recipient in recipients(planned.entry.category)
        )
        if not entitled:
            misdelivered += 1
            # What a reader needs to tell a true misdelivery from a hit the plan did
            # not foresee (a random plate one edit from a listed one matches it too).
            unplanned.append({
                "recipient": delivery.recipient, "entry_id": delivery.entry_id,
                "read": asdict(delivery.read), "read_id": delivery.read_id,
                "planned_entry": planned.entry.entry_id if planned and planned.entry else None,
            })  # fmt: skip
            continue
        copies[slot] += 1
        same_id[(delivery.recipient, delivery.hit_id)] += 1
    return {
        "reads_accepted": len(accepted),
        "reads_stored": sum(key in stored_ids for key in accepted),
        "reads_lost": lost,
        "reads_duplicated": duplicated,
        "reads_stored_under_an_earlier_attempts_id": other_id,
        "reads_unexpected": unexpected_reads,
        "reads_stored_not_accepted": sum(key not in accepted for key in stored_ids),
        "hot_reads_accepted": sum(planned_keys[key].entry is not None for key in accepted),
        "hits_expected": len(expected),
        "hits_delivered": sum(slot in copies for slot in expected),
        "hits_lost": sum(slot not in copies for slot in expected),
        "duplicate_deliveries": sum(n - 1 for n in copies.values()),
        "duplicate_deliveries_same_hit_id": sum(n - 1 for n in same_id.values()),
        "misdeliveries": misdelivered,
        "misdelivered": unplanned[:20],
        # Hits of reads never accepted, to agencies entitled to them: no fault.
        "hits_of_unaccepted_reads": sum(slot not in expected for slot in copies),
    }
