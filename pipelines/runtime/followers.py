"""The compacted topics every worker follows in full: the hotlist and the agreements.

``follow_hotlist`` is how a match worker keeps its index: while the topic is read from
the start, entries go in without the fuzzy index, which is built once at the end; after
that each change is applied as it comes. ``Followers`` starts the followers a worker's
stages need, on first use, and lets agents wait until they have caught up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from connectors.kafka.follower import CompactedTopicFollower
from pipelines import metrics
from pipelines.matching.index import HotlistIndex
from pipelines.settings import Settings
from pipelines.stages.share import AgreementBook
from schemas import Codec
from schemas.hotlist_policy import excluded_entry
from schemas.records import HotlistEntry, SharingAgreement

log = logging.getLogger(__name__)

T = TypeVar("T")
CAUGHT_UP_POLL_S = 0.05


def hotlist_index(settings: Settings) -> HotlistIndex:
    return HotlistIndex(
        max_distance=settings.match_max_edit_distance,
        fuzzy_min_length=settings.match_fuzzy_min_length,
    )


def follow_hotlist(
    settings: Settings, codec: Codec, index: HotlistIndex
) -> CompactedTopicFollower[HotlistEntry]:
    """A follower (not started) that keeps ``index`` equal to the hotlist topic, less
    the entries the owning agency's jurisdiction excludes (13.824 subd. 2(c)): one
    listed before its policy changed is never matched."""
    loading = True

    def put_entry(key: str, entry: HotlistEntry) -> None:
        if excluded_entry(settings.jurisdiction_policies, entry) is not None:
            metrics.count("match", "entry_excluded")  # counted, not logged: ids hold plates
            index.retract(key)
            return
        index.put(entry, defer_fuzzy=loading)

    def loaded() -> None:
        nonlocal loading
        index.compact()
        loading = False

    return CompactedTopicFollower(
        settings,
        settings.topic("hotlist"),
        lambda b: HotlistEntry.decode(codec, b),
        put_entry,
        index.retract,
        loaded,
    )


def follow_agreements(
    settings: Settings, codec: Codec, book: AgreementBook
) -> CompactedTopicFollower[SharingAgreement]:
    """A follower (not started) that keeps ``book`` equal to the agreements topic."""

    def put(key: str, agreement: SharingAgreement) -> None:
        book.apply(key, agreement)
        # Both ends may receive hits: their series start at 0, so rate() sees the first.
        metrics.declare_recipients(agreement.owner_agency_ori, agreement.partner_agency_ori)

    return CompactedTopicFollower(
        settings,
        settings.topic("agreements"),
        lambda b: SharingAgreement.decode(codec, b),
        put,
        book.remove,
    )


class Followers:
    """The followers of one worker: the hotlist for matching, the agreements for
    sharing and dispositions."""

    def __init__(
        self,
        settings: Settings,
        codec: Codec,
        hotlist: HotlistIndex,
        agreements: AgreementBook,
        stages: Sequence[str],
    ) -> None:
        self._settings = settings
        self._codec = codec
        self._hotlist = hotlist
        self._agreements = agreements
        self._stages = tuple(stages)
        self.started: list[CompactedTopicFollower[Any]] | None = None
        self._lock = asyncio.Lock()

    def _start(self) -> None:
        followers: list[CompactedTopicFollower[Any]] = []
        if "match" in self._stages:
            followers.append(follow_hotlist(self._settings, self._codec, self._hotlist))
        if "share" in self._stages or "store" in self._stages:
            followers.append(follow_agreements(self._settings, self._codec, self._agreements))
        for follower in followers:
            follower.start()
        self.started = followers

    async def wait(self, run_blocking: Callable[[Callable[[], None]], Awaitable[None]]) -> None:
        """Starts the followers (once), then blocks until each has caught up."""
        async with self._lock:
            if self.started is None:
                await run_blocking(self._start)
                log.info("lprx worker: following hotlist and agreements")
        while not all(f.caught_up for f in self.started or ()):
            await asyncio.sleep(CAUGHT_UP_POLL_S)

    def stop(self) -> None:
        for follower in self.started or ():
            follower.stop()
