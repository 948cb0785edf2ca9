"""The Faust app of a worker: created from the settings, with the agents of its stages.

Names are part of the deployment and never change: the app id
``<topic_prefix>-<stages>`` names the consumer group and the table changelogs, and the
agents (``ocr``, ``normalize``, ``dedup-ticks``, ``match``, ``historical``,
``store-reads``, ``store-hits``, ``store-audit``, ``store-dispositions``) and the table
(``dedup-vehicle-passes``) keep the names their offsets and changelogs are stored under.
Stage ``share`` is no agent: it runs its own transactional loop in a thread of the
worker (``share.py``), its group ``<topic_prefix>-share``, its state ``<prefix>.hit-alerts``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

import faust
import mode.loop

from connectors.kafka.holes import HoleReader
from connectors.kafka.security import faust_credentials
from connectors.kafka.topics import core_topics
from pipelines import metrics
from pipelines.access import PIPELINE_STAGES, app_id
from pipelines.runtime import (
    dispositions,
    historical,
    local_tables,
    match,
    normalize,
    ocr,
    share,
    store,
)
from pipelines.runtime.context import Context
from pipelines.runtime.transport import ReadCommittedTransport
from pipelines.runtime.wiring import FaustOutbox, Wiring
from pipelines.settings import Settings

ALL_STAGES = PIPELINE_STAGES
log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    """A worker's app, its stages, the context its agents share, and the agents."""

    app: faust.App
    stages: tuple[str, ...]
    context: Context
    wiring: Wiring
    agents: dict[str, Any] = field(default_factory=dict)

    def run(self, loglevel: str = "warning") -> None:
        """Runs the worker until it is stopped (SIGTERM, SIGINT). A worker whose stages
        have no Faust agent (``share`` alone) runs without Faust, which will not start
        with no topic to subscribe to: its tasks, then its shutdown handlers."""
        for prepare in self.wiring.preparations:
            prepare()
        use_event_loop(self.context.settings.worker_event_loop)
        if self.app.agents:
            runner = faust.Worker(self.app, loglevel=loglevel)
            # Faust's startup spinner sets the root logger to DEBUG for good (to spin on
            # every record), so each record sent built two debug LogRecords in aiokafka
            # and Faust: about 4% of a loaded worker's samples (benchmarks/pipeline.py
            # under py-spy). Without it, the root logger stays at ``loglevel``.
            runner.spinner = None
            runner.execute_from_commandline()
            return
        logging.basicConfig(
            level=loglevel.upper(), format="[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"
        )
        asyncio.run(_run_without_faust(self.wiring))


async def _run_without_faust(wiring: Wiring) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    # Side by side, as Faust runs them: the heartbeat never returns.
    running = [asyncio.ensure_future(start()) for start in wiring.tasks]
    for task in running:
        task.add_done_callback(_log_failure)
    try:
        await stopping.wait()
    finally:
        for task in running:
            task.cancel()
        for stop in wiring.shutdown:
            await asyncio.to_thread(stop)


def use_event_loop(name: str) -> None:
    """The event loop the worker's agents run on, from now on (the loop policy). uvloop
    runs the loop's own machinery (callbacks, timers, sockets) in C: with Faust, asyncio's
    loop was a fifth of a loaded worker's samples (py-spy, benchmarks/pipeline.py)."""
    if name != "asyncio":
        mode.loop.use(name)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("worker task failed", exc_info=task.exception())


def worker_stages(settings: Settings) -> tuple[str, ...]:
    app_id(settings, settings.worker_stages)  # refuses an unknown stage
    return tuple(s for s in ALL_STAGES if s in settings.worker_stages)


def make_app(settings: Settings, app_id: str) -> faust.App:
    # One folder per app: Faust names a table's RocksDB files by table and partition
    # only, so apps sharing a folder would read each other's offsets. Faust creates
    # only the last folder of the path.
    data_dir = (settings.table_data_dir or settings.cache_dir / "faust") / app_id
    data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=faust_credentials(settings),
        store=settings.table_store,
        datadir=str(data_dir),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=5,
    )
    # Share's audit events are written in transactions: store none of an aborted one.
    transport = ReadCommittedTransport(app.conf.broker_consumer, app)
    # Before committing past offsets its fetch jumped over, the consumer asks Kafka.
    transport.hole_check = HoleReader(settings).first_record
    transport.compacted_topics = frozenset(
        spec.name for spec in core_topics(settings)
        if "compact" in spec.config.get("cleanup.policy", "")
    )  # fmt: skip
    app.transport = transport
    # Past this, Faust's conductor holds every agent's records until the buffer drains:
    # with its default (100), a burst of dedup's table writes held back the reads, so
    # the hits, of the whole worker (seconds at 500 reads/s; benchmarks/pipeline.py).
    app.producer.buffer.max_messages = settings.worker_producer_buffer_messages
    return app


async def freeze_startup_heap(ctx: Context) -> None:
    """Once the hotlist and agreements are loaded (at once for stages that follow
    neither), what the worker holds lives as long as it does: modules, the hotlist
    index, the sessions. Moved out of the garbage collector's generations
    (``gc.freeze``), it is no longer walked by every full collection, which stops every
    thread: a full collection then walks only what the worker made since."""
    await ctx.wait_for_followers()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*ctx.settings.worker_gc_thresholds)
    log.info("lprx worker: %d objects of the startup heap frozen", gc.get_freeze_count())


def _purge_local_tables(wiring: Wiring, settings: Settings) -> None:
    """Deleted table entries leave this worker's disk within table_purge_seconds."""
    app = wiring.app
    every = settings.table_purge_seconds

    async def purge() -> None:
        tables = list(app.tables.values())
        local_tables.purge_open(tables)
        local_tables.remove_unserved(tables, app.conf.tabledir, every)

    wiring.timer(every, "purge-local-tables", purge)


def create_pipeline(settings: Settings) -> Pipeline:
    stages = worker_stages(settings)
    name = app_id(settings, stages)
    app = make_app(settings, name)
    outbox = FaustOutbox(app, settings)
    ctx = Context(settings, worker=name, out=outbox, stages=stages)
    wiring = Wiring(app, outbox, ctx)
    wiring.on_shutdown(ctx.followers.stop)
    # Read at scrape time, so the gauges follow every reload and revocation.
    metrics.HOTLIST_ENTRIES.set_function(lambda: len(ctx.hotlist))
    metrics.AGREEMENTS.set_function(lambda: len(ctx.agreements))
    pipeline = Pipeline(app, stages, ctx, wiring)
    _purge_local_tables(wiring, settings)

    async def freeze_when_loaded() -> None:
        await freeze_startup_heap(ctx)

    wiring.task(freeze_when_loaded)
    agents = pipeline.agents
    if "ocr" in stages:
        agents["ocr"] = ocr.register(wiring)
    if "match" in stages:
        agents["match"] = match.register(wiring)
        agents["historical"] = historical.register(wiring)
    if "normalize" in stages:
        # With match here too, reads are matched in the normalize agent: a hop fewer.
        agents["normalize"] = normalize.register(wiring, agents.get("match"))
    if "share" in stages:
        agents["share"] = share.register(wiring)
    if "store" in stages:
        agents["store-reads"], agents["store-hits"], agents["store-audit"] = store.register(wiring)
        agents["store-dispositions"] = dispositions.register(wiring)
    return pipeline
