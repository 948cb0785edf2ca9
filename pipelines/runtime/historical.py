"""Agent ``historical``: each entry added to a hotlist, checked once against the reads
already stored.

Consumed as a consumer-group member (not followed), so each hotlist change is checked by
one worker. An entry changed later (priority, dates), or the topic read again by a new
consumer group, raises nothing twice (Cassandra's ``hotlist_checks``); a retraction
clears the check, so an entry listed again is checked again.

Changes are taken in batches (``BATCH_SIZE``, waiting at most ``BATCH_SECONDS``: a
worker starting reads the whole topic), each checked with one round trip per step for
all its entries (forget the retracted, which entries are checked, the stored reads of
each plate's spellings, mark them checked). A batch is cut where an entry changes
again, so each entry's changes keep their order; a batch failing for any reason but an
outage is checked again entry by entry, so a bad change costs only itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import cast

from faust.streams import Stream
from faust.types import EventT, StreamT

from pipelines import metrics
from pipelines.runtime.context import Context
from pipelines.runtime.guard import Guard
from pipelines.runtime.wiring import Wiring
from pipelines.stages import match
from schemas.hotlist_policy import excluded_entry
from schemas.plates import confusable_key, is_wildcard
from schemas.records import HotlistEntry, utcnow

STAGE = match.HISTORICAL_STAGE
BATCH_SIZE = 256
BATCH_SECONDS = 0.1


class Historical:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.guard = Guard(ctx, STAGE)

    async def consume(self, stream: StreamT[bytes]) -> None:
        # Faust hands agents a Stream; its interface type lacks take_events. A batch is
        # acknowledged once the next is asked for, so once it is checked.
        taking = cast(Stream[bytes], stream)
        async for events in taking.take_events(BATCH_SIZE, within=BATCH_SECONDS):
            await self.on_changes(events)

    async def on_changes(self, events: Sequence[EventT[bytes]]) -> None:
        for segment in _segments(events):
            retracted: list[EventT[bytes]] = []
            entries: list[tuple[EventT[bytes], HotlistEntry]] = []
            for event in segment:
                if event.message.value is None:
                    retracted.append(event)
                elif (entry := await self._to_check(event)) is not None:
                    entries.append((event, entry))
            checked = partial(self._check_batch, [_entry_id(e) for e in retracted], entries)
            if not await self.guard.attempt(checked):
                for event in [*retracted, *(event for event, _ in entries)]:
                    await self.on_change(event)

    async def _check_batch(
        self, retracted: list[str], entries: list[tuple[EventT[bytes], HotlistEntry]]
    ) -> None:
        store = self.guard.store
        if retracted:
            await store(lambda s: s.forget_entry_checks(retracted))
        keys = [(entry.entry_id, confusable_key(entry.plate)) for _, entry in entries]
        if not keys:
            return
        checked = await store(lambda s: s.entries_checked(keys))
        fresh = [
            (entry, key) for (_, entry), key, c in zip(entries, keys, checked, strict=True) if not c
        ]
        metrics.count(STAGE, "already_checked", len(entries) - len(fresh))
        if not fresh:
            return
        stored = await store(lambda s: s.stored_reads_like_each([e.plate for e, _ in fresh]))
        now = utcnow()
        for (entry, _), reads in zip(fresh, stored, strict=True):
            for hit in match.historical_hits(entry, reads, now):
                metrics.count(STAGE, "hit")
                await self.ctx.send_hit(hit)
        # Marked after the hits are sent: a crash in between checks them again.
        await store(lambda s: s.mark_entries_checked([key for _, key in fresh], utcnow()))
        metrics.count(STAGE, "ok", len(fresh))

    async def _to_check(self, event: EventT[bytes]) -> HotlistEntry | None:
        """The entry an event lists, if its stored reads are to be checked."""
        decode = partial(HotlistEntry.decode, self.ctx.codec, event.message.value)
        entry = await self.guard.step(event, decode)
        if entry is None or is_wildcard(entry.plate):
            return None
        if excluded_entry(self.ctx.settings.jurisdiction_policies, entry) is not None:
            metrics.count(STAGE, "excluded")  # its jurisdiction bars matching it
            return None
        return entry

    async def on_change(self, event: EventT[bytes]) -> None:
        await self.guard.run(event, partial(self._check, event))

    async def _check(self, event: EventT[bytes]) -> None:
        store = self.guard.store
        if event.message.value is None:
            # A retraction raises nothing; listed again, the entry is checked again.
            entry_id = _entry_id(event)
            await store(lambda s: s.forget_entry_check(entry_id))
            return
        entry = await self._to_check(event)
        if entry is None:
            return
        folded = confusable_key(entry.plate)
        if await store(lambda s: s.entry_checked(entry.entry_id, folded)):
            metrics.count(STAGE, "already_checked")
            return
        # Reads stored under a confusable spelling of the plate are hits too.
        stored = await store(lambda s: s.stored_reads_like(entry.plate))
        for hit in match.historical_hits(entry, stored, utcnow()):
            metrics.count(STAGE, "hit")
            await self.ctx.send_hit(hit)
        # Marked after the hits are sent: a crash in between checks it again.
        await store(lambda s: s.mark_entry_checked(entry.entry_id, folded, utcnow()))
        metrics.count(STAGE, "ok")


def _entry_id(event: EventT[bytes]) -> str:
    """The entry a change is keyed by (a retraction has nothing else)."""
    return (event.message.key or b"").decode(errors="replace")


def _segments(events: Sequence[EventT[bytes]]) -> Iterator[list[EventT[bytes]]]:
    """The events in runs where no entry changes twice, in order."""
    segment: list[EventT[bytes]] = []
    keys: set[bytes] = set()
    for event in events:
        key = event.message.key
        if key is not None and key in keys:
            yield segment
            segment, keys = [], set()
        if key is not None:
            keys.add(key)
        segment.append(event)
    if segment:
        yield segment


def register(wiring: Wiring) -> Historical:
    agent = Historical(wiring.ctx)
    wiring.agent(wiring.ctx.topics.hotlist, "historical", agent.consume)
    return agent
