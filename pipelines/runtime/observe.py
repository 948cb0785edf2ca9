"""What a worker tells its SRE: the health checks, the consumer lag, the follower
metrics, wired onto one pipeline (``observe``) and served by ``lprx worker``."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from connectors.kafka.lag import LagMonitor
from pipelines import metrics
from pipelines.health import Health, HealthCollector, VerdictLog, WorkerServer
from pipelines.runtime.app import Pipeline
from pipelines.runtime.context import Context
from pipelines.runtime.share import ShareService

log = logging.getLogger(__name__)

# Stages whose agents call Cassandra: OCR stores crops, match's historical check looks
# reads up, store writes.
CASSANDRA_STAGES = frozenset({"ocr", "match", "store"})
FOLLOWING_STAGES = frozenset({"match", "share", "store"})
CASSANDRA_PING_TIMEOUT_S = 2.0
VERDICT_LOG_INTERVAL_S = 10.0


def source_topics(pipeline: Pipeline) -> list[str]:
    """The topics the worker's consumer group reads: those of its agents."""
    topics: set[str] = set()
    for agent in pipeline.app.agents.values():
        topics.update(getattr(agent.channel, "topics", ()))
    return sorted(topics)


def followers_check(ctx: Context) -> str | None:
    started = ctx.followers.started
    if started is None:
        return "not started"
    behind = [f.topic for f in started if not f.caught_up]
    return f"not caught up: {', '.join(behind)}" if behind else None


def kafka_check(monitor: LagMonitor, stale_after_s: float) -> str | None:
    if monitor.last_answer is None:
        return f"no answer yet ({monitor.last_error or 'asking'})"
    age = time.monotonic() - monitor.last_answer
    if age > stale_after_s:
        return f"no answer for {age:.0f} s ({monitor.last_error})"
    return None


def cassandra_check(ctx: Context) -> str | None:
    store = ctx.open_store
    if store is None:
        return "no session yet"
    from connectors.cassandra.session import answers

    return answers(store.session, CASSANDRA_PING_TIMEOUT_S)


async def open_store(ctx: Context) -> None:
    """Opens the worker's Cassandra session at start (not at the first write), so
    readiness can tell whether Cassandra answers; retried while it does not."""
    delay = 0.5
    while True:
        try:
            await ctx.store()
            return
        except Exception as error:
            log.warning("Cassandra session not opened (%s); retrying in %.0f s", error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


def certificate_files(ctx: Context) -> list[Path]:
    """The CA files the worker's Kafka and Cassandra connections trust."""
    settings = ctx.settings
    files = [settings.kafka_ca_file or settings.default_ca_file]
    if settings.cassandra_tls:
        files.append(settings.cassandra_ca_file or settings.default_ca_file)
    return files


@dataclass
class Observed:
    health: Health
    lag: LagMonitor
    server: WorkerServer | None = None

    def serve(self, port: int, host: str) -> WorkerServer:
        self.server = WorkerServer(self.health, port, host)
        self.server.start()
        self.lag.start()
        threading.Thread(target=self._log_verdicts, name="lprx-health", daemon=True).start()
        return self.server

    def _log_verdicts(self) -> None:
        verdicts = VerdictLog(self.health)
        while True:
            verdicts.check()
            time.sleep(VERDICT_LOG_INTERVAL_S)


def observe(
    pipeline: Pipeline, *, lag_interval_s: float = 15.0, health: Health | None = None
) -> Observed:
    """Health checks, lag and follower metrics of ``pipeline``; the heartbeat and the
    Cassandra session start with its app. Call ``Observed.serve`` to serve them."""
    ctx, stages = pipeline.context, set(pipeline.stages)
    metrics.time_collections()
    health = health or Health()
    group, topics = pipeline.app.conf.id, lambda: source_topics(pipeline)
    share_loop = pipeline.agents.get("share")
    if isinstance(share_loop, ShareService) and not pipeline.app.agents:
        # A share-only worker's one group is the loop's own.
        config = share_loop.loop.config
        group, topics = config.group_id, lambda: [config.source]
    monitor = LagMonitor(ctx.settings, group, topics, lag_interval_s)
    if stages & FOLLOWING_STAGES:
        health.add_check("followers", lambda: followers_check(ctx))
    health.add_check("kafka", lambda: kafka_check(monitor, 3 * lag_interval_s + 10))
    if isinstance(share_loop, ShareService):
        health.add_check("share", share_loop.problem)
    pipeline.wiring.task(health.heartbeat)
    pipeline.wiring.task(metrics.watch_event_loop)
    if stages & CASSANDRA_STAGES:
        health.add_check("cassandra", lambda: cassandra_check(ctx))

        async def open_store_at_start() -> None:
            await open_store(ctx)

        pipeline.wiring.task(open_store_at_start)
    followers: Sequence[metrics.FollowerState] = ()

    def started_followers() -> Sequence[metrics.FollowerState]:
        return ctx.followers.started or followers

    for collector in (
        metrics.CertificatesCollector(lambda: certificate_files(ctx)),
        HealthCollector(health),
        metrics.LagCollector(monitor),
        metrics.FollowersCollector(started_followers),
    ):
        metrics.REGISTRY.register(collector)
    return Observed(health, monitor)
