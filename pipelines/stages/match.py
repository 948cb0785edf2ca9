"""Match reads against the hotlists: exact, confusable-aware, one edit, wildcards."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from pipelines.matching.index import HotlistIndex, Match
from pipelines.ocr.confidence import alert_threshold
from schemas.records import Hit, HotlistEntry, MatchKind, PlateRead, ReadSource, hit_id_for

__all__ = [
    "HotlistIndex",
    "best_hit",
    "historical_hits",
    "match_read",
    "match_reads",
    "match_reads_guarded",
    "needs_verification",
    "region_state",
]

log = logging.getLogger(__name__)
STAGE = "match"
HISTORICAL_STAGE = "historical"


def region_state(region: str | None) -> str | None:
    """'us-mn' -> 'MN'."""
    if not region:
        return None
    return region.rsplit("-", 1)[-1].upper()


def needs_verification(read: PlateRead, kind: MatchKind) -> bool:
    """Whether a hit on ``read`` may be a misread: the match is not exact (a confusable,
    one edit, a wildcard), or lprx's own OCR read the plate with a confidence under the
    alert threshold. A camera's own confidence is not on lprx's calibrated scale, so
    only its fuzzy matches are marked."""
    if kind is not MatchKind.EXACT:
        return True
    # PlateRead.confidence is 0-100 (OpenALPR style); the threshold is a probability.
    return read.source is ReadSource.SERVER_OCR and read.confidence < 100.0 * alert_threshold()


def _same_state(match: Match, read_state: str | None) -> bool:
    state = match.entry.plate_state
    return state is None or read_state is None or state == read_state


def match_read(read: PlateRead, index: HotlistIndex, now: datetime) -> Hit | None:
    """The hit for the best live entry the read matches, if any.

    The highest priority wins; among equals, an entry of the read's own state, then the
    closest match. An entry for another state still hits, marked ``state_mismatch``:
    agencies review "wrong state" hits rather than never seeing them.
    """
    return best_hit(read, index.lookup(read.plate), now)


def match_reads(reads: Sequence[PlateRead], index: HotlistIndex, now: datetime) -> list[Hit | None]:
    """``match_read`` of each read, the hotlist looked up for the whole batch at once."""
    found = index.lookup_many([read.plate for read in reads])
    return [best_hit(read, matches, now) for read, matches in zip(reads, found, strict=True)]


def match_reads_guarded(
    reads: Sequence[PlateRead], index: HotlistIndex, now: datetime
) -> list[Hit | Exception | None]:
    """``match_reads``; if the batch fails, each read on its own, so a read that breaks
    matching gets its error (for the dead-letter topic) and the others their hits."""
    try:
        return list(match_reads(reads, index, now))
    except Exception:
        log.exception("%s: batch of %d failed; matching its reads one by one", STAGE, len(reads))
    outcomes: list[Hit | Exception | None] = []
    for read in reads:
        try:
            outcomes.append(match_read(read, index, now))
        except Exception as error:
            outcomes.append(error)
    return outcomes


def best_hit(read: PlateRead, matches: list[Match], now: datetime) -> Hit | None:
    """The hit of ``match_read`` from the read's matches (closest kinds first)."""
    live = [m for m in matches if m.entry.is_live(read.collected_at)]
    if not live:
        return None
    read_state = region_state(read.region)

    def same_state(match: Match) -> bool:
        return _same_state(match, read_state)

    # Matches come closest kind first, and sort() is stable.
    live.sort(key=lambda m: (m.entry.priority, same_state(m)), reverse=True)
    best = live[0]
    return Hit(
        hit_id=hit_id_for(read.read_id, best.entry.entry_id),
        matched_at=now,
        read=read,
        entry=best.entry,
        match_kind=best.kind,
        state_mismatch=not same_state(best),
        other_entry_ids=tuple(m.entry.entry_id for m in live[1:]),
        needs_verification=needs_verification(read, best.kind),
    )


def historical_hits(entry: HotlistEntry, stored: list[PlateRead], now: datetime) -> list[Hit]:
    """A new entry checked against reads already stored for its plate: each becomes a
    hit flagged ``historical`` (reads stored are within retention by construction)."""
    if not stored or (entry.expires_at is not None and now >= entry.expires_at):
        return []  # most new entries: no read stored, and no index to build for none
    index = HotlistIndex([entry], max_distance=0)
    hits = []
    for read in stored:
        if read.expires_at <= now:
            continue
        for found in index.lookup(read.plate):
            hits.append(
                Hit(
                    hit_id=hit_id_for(read.read_id, found.entry.entry_id),
                    matched_at=now,
                    read=read,
                    entry=found.entry,
                    match_kind=found.kind,
                    state_mismatch=not _same_state(found, region_state(read.region)),
                    historical=True,
                    needs_verification=needs_verification(read, found.kind),
                )
            )
    return hits
