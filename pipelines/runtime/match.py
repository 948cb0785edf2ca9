"""Agent ``match``: every normalised read -> hits, against the followed hotlist.

It consumes ``reads.normalized``, not the deduplicated ``reads``: a read is matched as
soon as it is normalised, without waiting for its pass to settle, and every spelling of
a pass is matched (a different car one edit from the first is not folded away unseen).
A worker that runs stage ``normalize`` too matches its own reads in the normalize agent
(``on_reads``), one hop fewer (no encode, send, fetch and decode in between): the agent
then gets only what workers normalising without matching send.
A car read several times gives several hits; the share stage alerts the first and
suppresses the repeats of the same plate (confusables folded) on the same entry.

Reads are matched in batches (``match_batch_size``, waiting at most
``match_batch_seconds``), one vectorised hotlist lookup per batch
(``stages/match.py match_reads_guarded``); a read that breaks matching gets its own
dead letter, the others their hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import cast

from faust.streams import Stream
from faust.types import EventT, StreamT

from pipelines import metrics
from pipelines.runtime.context import Context
from pipelines.runtime.guard import Guard, Source
from pipelines.runtime.wiring import Wiring
from pipelines.stages import match
from schemas.records import Hit, PlateRead, utcnow


class Match:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # A read's latency is its share of the batch's (decode, match, route).
        self.guard = Guard(ctx, match.STAGE, times_steps=False)

    async def consume(self, stream: StreamT[bytes]) -> None:
        await self.ctx.wait_for_followers()
        settings = self.ctx.settings
        # Faust hands agents a Stream; its interface type lacks take_events.
        batches = cast(Stream[bytes], stream).take_events(
            settings.match_batch_size, within=settings.match_batch_seconds
        )
        async for events in batches:
            await self.on_batch(events)

    async def on_batch(self, events: Sequence[EventT[bytes]]) -> None:
        with metrics.timed_batch(match.STAGE, len(events)):
            reads: list[PlateRead] = []
            kept: list[EventT[bytes]] = []
            for event in events:
                decode = partial(PlateRead.decode, self.ctx.codec, event.message.value)
                read = await self.guard.step(event, decode)
                if read is not None:
                    reads.append(read)
                    kept.append(event)
            await self._match_all(kept, reads)

    async def on_reads(self, sources: Sequence[Source], reads: Sequence[PlateRead]) -> None:
        """Reads already decoded and normalised (the normalize stage of this worker):
        matched as a batch of ``reads.normalized`` is, ``sources[i]`` the origin of
        ``reads[i]`` for its dead letter."""
        with metrics.timed_batch(match.STAGE, len(reads)):
            await self._match_all(sources, reads)

    async def _match_all(self, sources: Sequence[Source], reads: Sequence[PlateRead]) -> None:
        if not reads:
            return
        outcomes = await self.guard.run_batch(sources, partial(self._match, reads))
        if outcomes is None:
            return
        for source, outcome in zip(sources, outcomes, strict=True):
            await self.guard.run(source, partial(self._route, source, outcome))
        metrics.observe_age(match.STAGE, (read.collected_at for read in reads))

    async def _match(self, reads: Sequence[PlateRead]) -> list[Hit | Exception | None]:
        outcomes = match.match_reads_guarded(reads, self.ctx.hotlist, utcnow())
        if len(outcomes) != len(reads):
            raise RuntimeError(f"{len(outcomes)} outcomes for {len(reads)} reads")
        return outcomes

    async def _route(self, source: Source, outcome: Hit | Exception | None) -> None:
        if isinstance(outcome, Exception):
            await self.guard.dead_letter(source, outcome)
        elif outcome is None:
            metrics.count(match.STAGE, "no_hit")
        else:
            metrics.count(match.STAGE, "hit")
            await self.ctx.send_hit(outcome)


def register(wiring: Wiring) -> Match:
    agent = Match(wiring.ctx)
    wiring.agent(wiring.ctx.topics.normalized_reads, "match", agent.consume)
    return agent
