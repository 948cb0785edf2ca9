"""Agent ``store-dispositions``: an agency's decision on a hit, stored on the hit.

Only an agency that received the hit may dispose of it (``stages/dispositions.py``);
a refusal is audited as denied and dead-lettered. Every store call is retried while
Cassandra is down, as for the other store agents.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial

from faust.types import EventT, StreamT

from pipelines import metrics
from pipelines.runtime.context import Context
from pipelines.runtime.guard import Guard
from pipelines.runtime.wiring import Wiring
from pipelines.stages import dispositions
from schemas.errors import InvalidRecord
from schemas.records import AuditOutcome, HitDisposition, HotlistCategory, utcnow

STAGE = dispositions.STAGE
# How long after its match a hit may still be on its way to the store.
STORE_GRACE = timedelta(seconds=120)


class Dispositions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.guard = Guard(ctx, STAGE)

    async def consume(self, stream: StreamT[bytes]) -> None:
        await self.ctx.wait_for_followers()
        async for event in stream.events():
            await self.on_disposition(event)

    async def on_disposition(self, event: EventT[bytes]) -> None:
        await self.guard.run(event, partial(self._store, event))

    async def _store(self, event: EventT[bytes]) -> None:
        decode = partial(HitDisposition.decode, self.ctx.codec, event.message.value)
        disposition = await self.guard.step(event, decode)
        if disposition is None:
            return
        found = await self._stored_hit(disposition)
        try:
            if found is None:
                raise InvalidRecord(f"no stored hit {disposition.hit_id} (expired or unknown)")
            category, ttl = found
            dispositions.authorize(
                disposition, HotlistCategory(category), self.ctx.agreements, utcnow()
            )
        except InvalidRecord as error:
            denied = dispositions.disposition_audit(disposition, AuditOutcome.DENIED)
            await self.ctx.send_audit(denied)
            await self.guard.dead_letter(event, error)
            return
        await self.guard.store(lambda store: store.write_disposition(disposition, ttl))
        done = dispositions.disposition_audit(disposition, AuditOutcome.SUCCESS)
        await self.ctx.send_audit(done)
        metrics.count(STAGE, "ok")

    async def _stored_hit(self, disposition: HitDisposition) -> tuple[str, int] | None:
        """The hit's category and TTL once stored. A partner can decide on a hit before
        the store agent has written it (both follow the hits topic), so a recent hit is
        waited for, up to STORE_GRACE after it was matched (never after now: a made-up
        future match time cannot hold the partition)."""
        deadline = min(disposition.matched_at, utcnow()) + STORE_GRACE
        while True:
            found = await self.guard.store(lambda store: store.hit_category(disposition))
            if found is not None or utcnow() >= deadline:
                return found
            await asyncio.sleep(0.5)


def register(wiring: Wiring) -> Dispositions:
    agent = Dispositions(wiring.ctx)
    wiring.agent(wiring.ctx.topics.dispositions, "store-dispositions", agent.consume)
    return agent
