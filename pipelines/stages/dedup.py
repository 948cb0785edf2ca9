"""Fold repeated reads of one vehicle pass into one read: one camera, one plate, a window.

A pass is the reads of one camera (or of the cameras of one site, ``dedup_sites``, which
then count as one camera here) whose plates are equal, or one edit apart for plates
of ``fuzzy_min_length`` (``LPRX_MATCH_FUZZY_MIN_LENGTH``, as for matching) or more
characters, after folding confusables (``0``/``O``, ``8``/``B``...), each
within ``window`` (camera time) of the pass's newest read. A pass lasts while reads keep
coming within the window of each other, so a car sitting in view yields one read.

Dedup decides what is *stored*, never what is matched: every normalised read is matched
at once (``pipelines/runtime/normalize.py`` forwards it before folding it), so a distinct
spelling folded into a pass still raises its hit. Which read is stored: a new pass is held
for ``settle`` seconds (worker time) after its first read arrived; when that time is up
(``settle``, run by the settle timer), the read of the pass with the highest weighted score
(confidence, a plate that fits its state's format, a recognised state, frames fused) is
sent to be stored, carrying in ``duplicates`` the number of other reads folded into it.
Reads of the pass after that are counted and dropped. ``settle`` 0 sends the first read at
once (``fold_read``); with a settle time, ``fold_read`` sends only what it must (a held pass
the window leaves behind, a read too late for any pass) and the timer sends the rest.

The functions change a camera's passes in place and note which passes changed
(``CameraPasses.take_changes``); the worker (``pipelines/runtime/passes.py``) writes
those to a Faust table, one key per camera and pass, so a restarted worker neither
re-sends a pass it sent nor loses one it held. A read delivered again (same ``read_id``)
is not counted twice, and each camera's state is bounded by the window. A camera that has
sent nothing for ``forget_after_seconds`` (twice the window, worker time) is forgotten
(``is_idle``, ``forget``), so cameras taken out of service do not stay in memory.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta

from pipelines.settings import Settings
from schemas.plates import confusable_key, within_one_edit
from schemas.records import PlateRead

STAGE = "dedup"
RECENT_READ_IDS = 16  # per pass: more than a worker re-reads after a crash
MAX_SCORED_FRAMES = 5  # beyond this, more fused frames say little more about a read


@dataclass(frozen=True)
class ScoreWeights:
    """How much each sign of a good read counts; each sign is scaled to 0-1."""

    confidence: float = 1.0
    fits_format: float = 0.5
    region: float = 0.25
    frames: float = 0.25


@dataclass(frozen=True)
class DedupPolicy:
    window: timedelta
    settle_seconds: float = 0.0
    weights: ScoreWeights = ScoreWeights()
    fuzzy_min_length: int = field(kw_only=True)
    """Plates this long or longer are one pass when one edit apart: the matching
    setting, so dedup and matching agree on which plates are near."""

    @property
    def forget_after_seconds(self) -> float:
        """Worker time a camera stays remembered after its last read arrived. By then
        every pass has left the window (a camera sending in real time) and been sent."""
        return 2 * self.window.total_seconds() + self.settle_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> DedupPolicy:
        return cls(
            window=timedelta(seconds=settings.dedup_window_seconds),
            settle_seconds=settings.dedup_settle_seconds,
            weights=ScoreWeights(
                confidence=settings.dedup_weight_confidence,
                fits_format=settings.dedup_weight_fits_format,
                region=settings.dedup_weight_region,
                frames=settings.dedup_weight_frames,
            ),
            fuzzy_min_length=settings.match_fuzzy_min_length,
        )


def read_score(read: PlateRead, weights: ScoreWeights) -> float:
    """The weighted score that picks the read a pass sends."""
    fits_format = any(c.plate == read.plate and c.matches_template for c in read.candidates)
    frames = min(read.frame_count, MAX_SCORED_FRAMES) / MAX_SCORED_FRAMES
    return (
        weights.confidence * read.confidence / 100.0
        + weights.fits_format * fits_format
        + weights.region * (read.region_confidence / 100.0 if read.region else 0.0)
        + weights.frames * frames
    )


@dataclass(slots=True)
class VehiclePass:
    last_seen: float
    """Camera time of the pass's newest read (epoch seconds)."""
    opened: float
    """Worker time its first read arrived (epoch seconds): the settle clock."""
    reads: int = 1
    held: PlateRead | None = None
    """The best read so far, until the pass is sent."""
    held_score: float = 0.0
    recent_ids: tuple[str, ...] = ()
    """Ids of the pass's latest reads, to know a read delivered again."""
    held_encoded: str | None = field(default=None, compare=False, repr=False)
    """``held`` as the table stores it, kept so an unchanged read is not encoded again."""


@dataclass
class CameraPasses:
    """One camera's recent passes by confusable-folded plate; the partition of the
    camera's reads (where its table changelog goes); the passes changed since the
    caller last took the changes, to write."""

    partition: int = 0
    passes: dict[str, VehiclePass] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set, compare=False)
    removed: set[str] = field(default_factory=set, compare=False)
    last_arrival: float = field(default=0.0, compare=False)
    """Worker time the camera's latest read arrived (or its passes were loaded)."""
    newest: float | None = field(default=None, compare=False)
    """Camera time of the newest read seen, once computed: no pass is ever newer, and
    the newest pass is never the one the window leaves behind, so it only grows."""
    oldest: float | None = field(default=None, compare=False)
    """At most the camera time of the oldest pass's newest read, once computed: the
    passes need no look for one the window left behind until it is."""

    near: dict[str, str | set[str]] | None = field(default=None, compare=False, repr=False)
    """Each pass key and each of its one-deletion variants -> the pass keys it comes
    from, once built: two plates one edit apart share one, so a read is compared with
    the few passes it could join, not every pass of the camera. A variant of one pass
    only (nearly all) maps to the key itself: a string is not tracked by the garbage
    collector, and a set per variant was most of a worker's heap, so of each full
    collection's time."""
    first_held: float | None = field(default=None, compare=False)
    """When the earliest held pass was opened (worker time), if known to hold one."""
    first_held_known: bool = field(default=False, compare=False)
    held_keys: dict[str, None] | None = field(default=None, compare=False, repr=False)
    """The keys of the passes still held, in the passes' order, once built: what a
    settle looks at, not every pass the window keeps."""

    def newest_seen(self, at: float) -> float:
        if self.newest is None:
            self.newest = max((p.last_seen for p in self.passes.values()), default=at)
        self.newest = max(self.newest, at)
        return self.newest

    def __len__(self) -> int:
        return len(self.passes)

    def candidates(self, key: str) -> list[str]:
        """The pass keys that may be ``key`` or one edit from it, in the passes' order."""
        if self.near is None:
            self.near = {}
            for known in self.passes:
                self._index(known)
        found: set[str] = set()
        for variant in _variants(key):
            keys = self.near.get(variant)
            if isinstance(keys, str):
                found.add(keys)
            elif keys is not None:
                found.update(keys)
        if len(found) <= 1:
            return list(found)
        return [known for known in self.passes if known in found]

    def held(self) -> dict[str, None]:
        if self.held_keys is None:
            self.held_keys = {k: None for k, p in self.passes.items() if p.held is not None}
        return self.held_keys

    def add(self, key: str, vehicle: VehiclePass) -> None:
        self.passes[key] = vehicle
        if self.near is not None:
            self._index(key)
        if vehicle.held is not None:
            if self.held_keys is not None:
                self.held_keys[key] = None
            if self.first_held_known:
                first = self.first_held
                self.first_held = vehicle.opened if first is None else min(first, vehicle.opened)

    def drop(self, key: str) -> None:
        del self.passes[key]
        if self.held_keys is not None:
            self.held_keys.pop(key, None)
        if self.near is not None:
            for variant in _variants(key):
                keys = self.near.get(variant)
                if keys == key:
                    del self.near[variant]
                elif isinstance(keys, set):
                    keys.discard(key)
                    if len(keys) == 1:
                        self.near[variant] = next(iter(keys))

    def _index(self, key: str) -> None:
        near = self.near
        assert near is not None
        for variant in _variants(key):
            keys = near.get(variant)
            if keys is None:
                near[variant] = key
            elif isinstance(keys, set):
                keys.add(key)
            elif keys != key:
                near[variant] = {keys, key}

    def next_due(self, policy: DedupPolicy) -> float:
        """Worker time the camera next needs the worker: its earliest held pass to be
        sent or, none held, the camera to be forgotten (unless a read comes first)."""
        if not self.first_held_known:
            held = [p.opened for p in self.passes.values() if p.held]
            self.first_held, self.first_held_known = min(held, default=None), True
        if self.first_held is None:
            return self.last_arrival + policy.forget_after_seconds
        return self.first_held + policy.settle_seconds

    def take_changes(self) -> tuple[dict[str, VehiclePass], set[str]]:
        """The passes to write and the pass keys to delete; forgets them."""
        changed = {key: self.passes[key] for key in self.changed if key in self.passes}
        removed = self.removed - changed.keys()
        self.changed, self.removed = set(), set()
        return changed, removed


@dataclass(frozen=True)
class Folded:
    duplicate: bool
    """The read joined a pass already open (whether or not it was sent yet)."""
    sent: list[PlateRead]
    """Passes due now: their best reads, to send on."""
    redelivered: bool = False
    """The read was seen before (same id) and changed nothing."""


def _variants(key: str) -> list[str]:
    return [key, *(key[:i] + key[i + 1 :] for i in range(len(key)))]


def _same_vehicle(remembered: str, key: str, fuzzy_min_length: int) -> bool:
    if remembered == key:
        return True
    fuzzy = min(len(remembered), len(key)) >= fuzzy_min_length
    return fuzzy and within_one_edit(remembered, key)


def _send(camera: CameraPasses, key: str) -> PlateRead:
    vehicle = camera.passes[key]
    assert vehicle.held is not None
    read = dataclasses.replace(vehicle.held, duplicates=vehicle.reads - 1)
    vehicle.held = vehicle.held_encoded = None
    camera.first_held_known = False
    if camera.held_keys is not None:
        camera.held_keys.pop(key, None)
    camera.changed.add(key)
    return read


def fold_read(
    camera: CameraPasses,
    read: PlateRead,
    now: float,
    policy: DedupPolicy,
    encoded: str | None = None,
) -> Folded:
    """Adds ``read`` to its camera's passes (in place) at worker time ``now``; returns
    whether it repeats an open pass, and the reads of passes now due. ``encoded``: the
    read as the table holds it (``VehiclePass.held_encoded``), if the caller has it."""
    camera.last_arrival = max(camera.last_arrival, now)
    window = policy.window.total_seconds()
    at = read.collected_at.timestamp()
    newest = camera.newest_seen(at)
    sent = []
    # Passes the window has left behind are forgotten; one still held is sent first.
    if camera.oldest is None or camera.oldest < newest - window:
        oldest = newest
        for key, vehicle in list(camera.passes.items()):
            if vehicle.last_seen < newest - window:
                if vehicle.held is not None:
                    sent.append(_send(camera, key))
                camera.drop(key)
                camera.removed.add(key)
            else:
                oldest = min(oldest, vehicle.last_seen)
        camera.oldest = oldest
    if at < newest - window:
        # Later than the window allows: every pass it could join is forgotten, so it
        # is a pass of its own, sent as it is.
        return Folded(False, [*sent, read, *_settle_at_once(camera, now, policy)])
    key = confusable_key(read.plate)
    fuzzy_min = policy.fuzzy_min_length
    passes = camera.passes
    matched = next(
        (
            remembered
            for remembered in camera.candidates(key)
            if _same_vehicle(remembered, key, fuzzy_min)
            and abs(at - passes[remembered].last_seen) <= window
        ),
        None,
    )
    if matched is not None and read.read_id in camera.passes[matched].recent_ids:
        return Folded(True, [*sent, *_settle_at_once(camera, now, policy)], redelivered=True)
    score = read_score(read, policy.weights)
    if matched is None:
        camera.oldest = at if camera.oldest is None else min(camera.oldest, at)
        camera.add(key, VehiclePass(
            last_seen=at, opened=now, held=read, held_score=score, recent_ids=(read.read_id,),
            held_encoded=encoded,
        ))  # fmt: skip
        camera.changed.add(key)
    else:
        vehicle = camera.passes[matched]
        vehicle.reads += 1
        vehicle.last_seen = max(vehicle.last_seen, at)
        vehicle.recent_ids = (*vehicle.recent_ids[1 - RECENT_READ_IDS :], read.read_id)
        if vehicle.held is not None and score > vehicle.held_score:
            vehicle.held, vehicle.held_score, vehicle.held_encoded = read, score, encoded
        camera.changed.add(matched)
    return Folded(matched is not None, sent + _settle_at_once(camera, now, policy))


def _settle_at_once(camera: CameraPasses, now: float, policy: DedupPolicy) -> list[PlateRead]:
    # With a settle time the timer sends due passes, a partition's at a time: a send is
    # only marked done once Kafka acknowledged it, so one wait per tick, not per read.
    return settle(camera, now, policy) if policy.settle_seconds <= 0 else []


def settle(camera: CameraPasses, now: float, policy: DedupPolicy) -> list[PlateRead]:
    """Sends (in place) every held pass whose settle time is up at worker time ``now``."""
    passes = camera.passes
    due = [key for key in camera.held() if now - passes[key].opened >= policy.settle_seconds]
    return [_send(camera, key) for key in due]


def is_idle(camera: CameraPasses, now: float, policy: DedupPolicy) -> bool:
    """No read for ``forget_after_seconds`` and no pass still held: nothing left to do."""
    quiet = now - camera.last_arrival >= policy.forget_after_seconds
    return quiet and all(vehicle.held is None for vehicle in camera.passes.values())


def forget(camera: CameraPasses) -> None:
    """Drops every pass (in place), to be deleted from the table with the changes."""
    camera.removed.update(camera.passes)
    camera.passes.clear()
    camera.newest = camera.oldest = camera.near = camera.held_keys = None
    camera.first_held_known = False
