"""Agent ``historical``: each entry added to a hotlist, checked once against the reads
already stored.

Consumed as a consumer-group member (not followed), so each hotlist change is checked by
one worker. An entry changed later (priority, dates), or the topic read again by a new
consumer group, raises nothing twice (Cassandra's ``hotlist_checks``); a retraction
clears the check, so an entry listed again is checked again.
"""

from __future__ import annotations

from functools import partial

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


class Historical:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.guard = Guard(ctx, STAGE)

    async def consume(self, stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await self.on_change(event)

    async def on_change(self, event: EventT[bytes]) -> None:
        await self.guard.run(event, partial(self._check, event))

    async def _check(self, event: EventT[bytes]) -> None:
        store = self.guard.store
        if event.message.value is None:
            # A retraction raises nothing; listed again, the entry is checked again.
            entry_id = (event.message.key or b"").decode(errors="replace")
            await store(lambda s: s.forget_entry_check(entry_id))
            return
        decode = partial(HotlistEntry.decode, self.ctx.codec, event.message.value)
        entry = await self.guard.step(event, decode)
        if entry is None or is_wildcard(entry.plate):
            return
        if excluded_entry(self.ctx.settings.jurisdiction_policies, entry) is not None:
            metrics.count(STAGE, "excluded")  # its jurisdiction bars matching it
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


def register(wiring: Wiring) -> Historical:
    agent = Historical(wiring.ctx)
    wiring.agent(wiring.ctx.topics.hotlist, "historical", agent.consume)
    return agent
