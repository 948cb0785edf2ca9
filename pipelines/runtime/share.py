"""Agent ``share``: each hit to the agencies entitled to it, a repeat not re-alerted.

Who receives a hit is ``stages/share.py`` (the owner, and partners by agreement in
force). Hits are keyed by folded plate (``schemas/keys.py hit_key``), so a car's repeats
meet in one partition; its ``HitSuppressor`` remembers the last alert per (plate, entry)
in the ``hit-alerts`` table, one key per alert, ``{"at": epoch seconds, "partition"}``,
so a restarted or rebalanced share worker does not alert a repeat again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, MutableMapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from faust.types import EventT, StreamT

from pipelines import metrics
from pipelines.runtime.context import Context
from pipelines.runtime.guard import Guard
from pipelines.runtime.mirror import TableMirror
from pipelines.runtime.wiring import Wiring
from pipelines.stages import share
from pipelines.stages.share import Delivery, HitSuppressor
from schemas.records import Hit, utcnow

TABLE = "hit-alerts"

Alert = tuple[float, int, str]
"""(epoch seconds, partition, suppression key) of one table entry."""


class AlertLayout:
    """How the alerts lie in the table (see the module docstring)."""

    def __init__(self, window: timedelta) -> None:
        self.window = window

    def new(self) -> HitSuppressor:
        return HitSuppressor(self.window)

    def decode(self, key: Any, value: Any) -> Alert:
        return float(value["at"]), int(value["partition"]), str(key)

    def assemble(self, entries: list[Alert]) -> dict[int, HitSuppressor]:
        """One suppressor per partition, its alerts remembered oldest first."""
        suppressors: dict[int, HitSuppressor] = defaultdict(self.new)
        for at, partition, key in sorted(entries):
            suppressors[partition].remember(key, datetime.fromtimestamp(at, UTC))
        return dict(suppressors)

    def changes(
        self, partition: int, suppressor: HitSuppressor
    ) -> tuple[dict[str, Any], Iterable[str]]:
        changed, removed = suppressor.take_changes()
        values = {
            key: {"at": at.timestamp(), "partition": partition} for key, at in changed.items()
        }
        return values, removed


class Share:
    def __init__(self, ctx: Context, table: MutableMapping[Any, Any]) -> None:
        self.ctx = ctx
        self.guard = Guard(ctx, share.STAGE)
        self._layout = AlertLayout(timedelta(seconds=ctx.settings.hit_suppression_seconds))
        self.alerts: TableMirror[int, HitSuppressor, Alert] = TableMirror(
            TABLE, table, self._layout
        )

    async def consume(self, stream: StreamT[bytes]) -> None:
        await self.ctx.wait_for_followers()
        async for event in stream.events():
            await self.on_hit(event)

    async def on_hit(self, event: EventT[bytes]) -> None:
        await self.guard.run(event, partial(self._share, event))

    def _decoded(self, value: bytes | None) -> tuple[Hit, list[Delivery]]:
        hit = Hit.decode(self.ctx.codec, value)
        return hit, share.deliveries(hit, self.ctx.agreements, utcnow())

    async def _share(self, event: EventT[bytes]) -> None:
        value = event.message.value
        outcome = await self.guard.step(event, partial(self._decoded, value))
        if outcome is None or value is None:
            return
        hit, deliveries = outcome
        partition = event.message.partition
        suppressor = self.alerts.setdefault(partition, self._layout.new)
        if not suppressor.should_alert(hit):
            metrics.count(share.STAGE, "suppressed")
            return
        for delivery in deliveries:
            await self.ctx.deliver_hit(delivery.recipient_ori, hit, value)
            await self.ctx.send_audit(share.dissemination_audit(hit, delivery, utcnow()))
            metrics.HITS_DELIVERED.labels(delivery.recipient_ori).inc()
        # Written after delivery: a crash in between alerts twice, never not at all.
        self.alerts.write(partition, suppressor)
        metrics.count(share.STAGE, "ok")
        if deliveries:
            metrics.observe_age(share.STAGE, [hit.read.collected_at])


def register(wiring: Wiring) -> Share:
    ctx = wiring.ctx
    table = wiring.table(TABLE)
    agent = Share(ctx, table)
    wiring.keep_current(table, agent.alerts)
    wiring.agent(ctx.topics.hits, "share", agent.consume)
    metrics.SUPPRESSED_ALERTS.set_function(
        lambda: sum(len(suppressor) for suppressor in agent.alerts.snapshot())
    )
    return agent
