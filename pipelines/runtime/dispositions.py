"""Agent ``store-dispositions``: an agency's decision on a hit, stored on the hit.

Only an agency that received the hit may dispose of it (``stages/dispositions.py``);
a refusal is audited as denied and dead-lettered. Every store call is retried while
Cassandra is down, as for the other store agents.
"""

from __future__ import annotations

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
        found = await self.guard.store(lambda store: store.hit_category(disposition))
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


def register(wiring: Wiring) -> Dispositions:
    agent = Dispositions(wiring.ctx)
    wiring.agent(wiring.ctx.topics.dispositions, "store-dispositions", agent.consume)
    return agent
