"""Fault suite: nothing lost, nothing doubled, while the machinery fails under the load.

Replays ``--reads`` camera reads through real servers and real lprx processes: cameras
post them over HTTP to ``python -m pipelines.cli ingest`` (a read counts as accepted on
202 only; a 503 is retried after its Retry-After, as a camera does), one worker
(``pipelines.cli worker --stages normalize,match,share,store``) takes them through
dedup, match, share and store, while the suite

- kills the worker with SIGKILL at random moments (``--worker-kills``, at least 2 by
  default, one of them inside the Cassandra outage) and starts it again;
- kills the Kafka broker with SIGKILL and starts it again (``connectors.servers.up``);
- stops Cassandra for ``--cassandra-outage-seconds`` (SIGSTOP, then SIGCONT of its JVM:
  clients see timeouts, not refused connections).

Then it waits for the pipeline to drain (the worker's consumer groups, Faust's and the
share stage's, have committed everything and the results stopped changing) and checks
that every accepted read is stored in ``reads_by_plate`` exactly once, and that every
expected hit reached each entitled agency topic (``<prefix>.hits.<ORI>``, read
committed) exactly once and no other topic. The hotlist has entries shared with partner
A only, partner B only, both, and neither; each hit also goes to the owner's own topic.
A third partner's agreement covers a category no entry has, so its topic must stay
empty. What is judged and why per camera read (not per read id):
``benchmarks/fault_scenario.py``.

Prints ONE JSON line. The suite runs its OWN Kafka and Cassandra (its own cache folder
and ports, see ``--cache-dir`` and the port options), never the shared ones, and stops
them at the end unless ``--keep-servers``. Jars are lent from an existing cache.

    nice -n 10 .venv/bin/python benchmarks/faults.py --reads 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import fault_harness as harness  # noqa: E402
from benchmarks.fault_scenario import (  # noqa: E402
    AGENCIES,
    OWNER,
    Plan,
    Posted,
    check,
    lost_reads,
    make_plan,
)
from connectors.servers import down, up  # noqa: E402
from pipelines.access import Role, as_role, provision  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from schemas import codec_for  # noqa: E402

FAULTS = ("worker_kill", "broker_kill", "cassandra_outage")
STAGES = "normalize,match,share,store"
TOKEN = "fault-suite-token"
# Ports the shared servers (and other helpers) use: the suite must never take them.
SHARED_PORTS = frozenset({9092, 9093, 9042, 7000})
POLL_S = 5.0
MAX_START_EXITS = 3
"""Exits by itself while starting (a crash) before the suite gives up."""


@dataclass(frozen=True)
class FaultOptions:
    reads: int = 2000
    seed: int = 1
    skip_faults: frozenset[str] = frozenset()
    cassandra_outage_seconds: float = 60.0
    worker_kills: int = 2
    broker_down_seconds: float = 5.0
    keep_servers: bool = False
    hit_share: float = 0.1
    # How long the cameras post for (default: long enough for every fault).
    post_seconds: float | None = None
    max_rate: float = 100.0  # reads a second at most
    drain_timeout: float = 900.0
    # Results unchanged this long with nothing left to consume: the pipeline is done.
    stable_seconds: float = 90.0
    dedup_settle_seconds: float = 0.5
    cache_dir: Path = REPO / ".cache" / "faults"
    kafka_port: int = 29092
    kafka_controller_port: int = 29093
    cassandra_port: int = 29042
    cassandra_storage_port: int = 27000
    quiet: bool = False


@dataclass
class FaultLog:
    """What the injector did, when (seconds since the cameras started)."""

    start: float = field(default_factory=time.monotonic)
    start_wall: float = field(default_factory=time.time)
    events: list[dict[str, Any]] = field(default_factory=list)

    def note(self, fault: str, **detail: Any) -> dict[str, Any]:
        """Records a fault as it starts; the caller may add to the event after."""
        event = {"fault": fault, "at_s": round(time.monotonic() - self.start, 1), **detail}
        self.events.append(event)
        return event

    @property
    def injected(self) -> list[str]:
        return [e["fault"] for e in self.events]


def fault_settings(options: FaultOptions) -> Settings:
    ports = {
        options.kafka_port,
        options.kafka_controller_port,
        options.cassandra_port,
        options.cassandra_storage_port,
    }
    if ports & SHARED_PORTS or len(ports) != 4:
        raise SystemExit(
            f"the suite's ports {sorted(ports)} must be 4 distinct ports, none "
            f"of the shared servers' {sorted(SHARED_PORTS)}"
        )
    shared = {source.parent.resolve() for source in jar_sources()}
    if options.cache_dir.resolve() in shared:
        raise SystemExit(
            f"--cache-dir {options.cache_dir} is a shared cache: the suite kills the servers "
            "of its cache folder, so it needs its own"
        )
    uid = uuid.uuid4().hex[:8]
    # The suite itself sets up, publishes and checks as the setup principal and schema
    # owner; the ingest and worker it starts log in as their own roles (pipelines/access).
    return as_role(
        Settings(
            cache_dir=options.cache_dir,
            kafka_bootstrap_servers=f"127.0.0.1:{options.kafka_port}",
            kafka_controller_port=options.kafka_controller_port,
            cassandra_port=options.cassandra_port,
            cassandra_storage_port=options.cassandra_storage_port,
            topic_prefix=f"faults-{uid}",
            cassandra_keyspace=f"faults_{uid}",
            worker_id=f"faults-{uid}",
            dedup_settle_seconds=options.dedup_settle_seconds,
            store_batch_seconds=0.2,
        ),
        Role.SETUP,
    )


def jar_sources() -> list[Path]:
    """Caches that may already hold the jars: $LPRX_CACHE_DIR's, then the repository's."""
    sources = []
    if os.environ.get("LPRX_CACHE_DIR"):
        sources.append(Path(os.environ["LPRX_CACHE_DIR"]) / "servers")
    sources.append(REPO / ".cache" / "servers")
    return sources


class Suite:
    def __init__(self, options: FaultOptions) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.settings = fault_settings(options)
        self.codec = codec_for(None)
        self.logs = options.cache_dir / "runs" / self.settings.topic_prefix
        self.faults = FaultLog()
        self.posted = Posted()
        self.cassandra_stopped = False
        self.servers_up = False
        self.stop_supervising = asyncio.Event()
        s = self.settings
        self.group = f"{s.topic_prefix}-{STAGES.replace(',', '-')}"
        # Share is no Faust agent: its transactional loop has its own group.
        self.share_group = f"{s.topic_prefix}-share"
        self.metrics_port = free_port()
        self.ingest_port = free_port()
        self.worker = harness.LprxProcess(
            "worker",
            [
                "worker",
                "--stages",
                STAGES,
                "--metrics-port",
                str(self.metrics_port),
                "--loglevel",
                "info",
            ],
            harness.child_env(s),
            self.logs,
        )
        self.ingest = harness.LprxProcess(
            "ingest",
            ["ingest"],
            harness.child_env(
                s,
                LPRX_INGEST_PORT=str(self.ingest_port),
                LPRX_INGEST_TOKENS=json.dumps({OWNER: TOKEN}),
            ),
            self.logs,
        )

    def say(self, message: str) -> None:
        if not self.options.quiet:
            print(f"[faults {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    # --- setting up ---------------------------------------------------------------------

    def start_servers(self) -> None:
        harness.seed_jars(self.settings, jar_sources(), self.say)
        self.say(f"starting the suite's servers in {self.settings.servers_dir}")
        up(self.settings, timeout=300, progress=lambda name, msg: self.say(f"{name}: {msg}"))

    def publish(self, plan: Plan) -> None:
        from connectors.hotlist.topic import publish_entries
        from connectors.kafka.agreements import publish_agreement
        from connectors.kafka.topics import ensure_topics, make_producer, partner_topic

        s = self.settings
        provision(s)  # topics, users, ACLs, keyspace, tables and grants
        ensure_topics(s, [partner_topic(s, ori) for ori in AGENCIES])
        producer = make_producer(s, "fault-suite")
        publish_entries(s, producer, self.codec, plan.entries)
        for agreement in plan.agreements:
            publish_agreement(s, producer, self.codec, agreement)

    async def worker_ready(self, plan: Plan) -> None:
        """The worker holds the hotlist and agreements and has checked every entry
        against the (empty) store, so no historical hit is raised later."""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            entries = await self.metric("lprx_hotlist_entries") or 0
            agreements = await self.metric("lprx_agreements") or 0
            lag = await asyncio.to_thread(
                harness.group_lag, self.settings, self.group, [self.settings.topic("hotlist")]
            )
            if entries >= len(plan.entries) and agreements >= len(plan.agreements) and lag == 0:
                return
            if not self.worker.alive():
                # As Kubernetes would, and as the supervisor does once the cameras post:
                # restarted and counted (the verdict's worker_unexpected_exits).
                exits = self.worker.unexpected_exits
                exits.append(self.worker.popen.returncode if self.worker.popen else -1)
                self.say(f"the worker exited while starting; restarting:\n{self.worker.tail()}")
                if len(exits) > MAX_START_EXITS:
                    raise RuntimeError(f"the worker exited {len(exits)} times while starting")
                self.worker.start()
            await asyncio.sleep(1)
        raise RuntimeError(f"the worker was not ready in 300 s:\n{self.worker.tail()}")

    async def ingest_ready(self) -> None:
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                try:
                    url = f"http://127.0.0.1:{self.ingest_port}/healthz"
                    if (await client.get(url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        raise RuntimeError(f"the ingest did not answer in 120 s:\n{self.ingest.tail()}")

    # --- faults ---------------------------------------------------------------------------

    async def metric(self, name: str) -> float | None:
        return await asyncio.to_thread(harness.metric, self.metrics_port, name)

    async def worker_busy(self, timeout: float) -> bool:
        """Waits until the worker handles records (a kill of a worker that is still
        waiting for its partitions tests little), at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        before = await self.metric("lprx_records_total")
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            now = await self.metric("lprx_records_total")
            if before is not None and now is not None and now > before:
                return True
            before = now
        return False

    async def kill_worker(self, why: str, busy_within: float = 120.0) -> None:
        busy = await self.worker_busy(busy_within)
        # A random moment of its work: within a few seconds of it being seen busy.
        await asyncio.sleep(self.rng.uniform(0, 3))
        await asyncio.to_thread(self.worker.kill)
        delay = self.rng.uniform(1, 5)
        self.faults.note(
            "worker_kill", when=why, worker_was_busy=busy, restart_after_s=round(delay, 1)
        )
        self.say(f"worker killed ({why}); restarting in {delay:.1f} s")
        await asyncio.sleep(delay)
        self.worker.start()

    async def kill_broker(self) -> None:
        event = self.faults.note("broker_kill")
        pid = await asyncio.to_thread(harness.kill_server, self.settings, "kafka")
        self.say(f"Kafka broker (pid {pid}) killed")
        await asyncio.sleep(self.options.broker_down_seconds)
        started = time.monotonic()
        await asyncio.to_thread(up, self.settings, ["kafka"], timeout=180)
        restart = time.monotonic() - started
        event["down_s"] = round(self.options.broker_down_seconds + restart, 1)
        self.say(f"Kafka broker back after {restart:.1f} s")

    async def cassandra_outage(self, kill_inside: bool) -> None:
        outage = self.options.cassandra_outage_seconds
        pid = await asyncio.to_thread(
            harness.signal_server, self.settings, "cassandra", signal.SIGSTOP
        )
        self.cassandra_stopped = True
        self.faults.note("cassandra_outage", seconds=outage)
        self.say(f"Cassandra (pid {pid}) stopped for {outage:.0f} s")
        started = time.monotonic()
        if kill_inside:
            # Early, and busy or not: the new worker must start while Cassandra is away.
            await asyncio.sleep(self.rng.uniform(0.1, 0.3) * outage)
            await self.kill_worker("during the Cassandra outage", busy_within=0)
        await asyncio.sleep(max(0.0, outage - (time.monotonic() - started)))
        self.resume_cassandra()
        self.say("Cassandra resumed")

    def resume_cassandra(self) -> None:
        if self.cassandra_stopped:
            harness.signal_server(self.settings, "cassandra", signal.SIGCONT)
            self.cassandra_stopped = False

    async def inject(self, post_seconds: float) -> None:
        """The faults in turn, each after a random gap while the cameras post."""
        skip = self.options.skip_faults
        kills = 0 if "worker_kill" in skip else self.options.worker_kills

        async def gap(low: float, high: float) -> None:
            await asyncio.sleep(self.rng.uniform(low, high) * post_seconds)

        await gap(0.05, 0.15)
        if kills:
            await self.kill_worker("while posting")
            kills -= 1
            await gap(0.05, 0.1)
        if "broker_kill" not in skip:
            await self.kill_broker()
            await gap(0.05, 0.1)
        if "cassandra_outage" not in skip:
            kill_inside = kills > 0
            await self.cassandra_outage(kill_inside)
            if kill_inside:
                kills -= 1
        while kills > 0:
            await gap(0.05, 0.1)
            await self.kill_worker(
                "after the outage" if "cassandra_outage" not in skip else "while posting"
            )
            kills -= 1

    # --- draining and judging -----------------------------------------------------------

    async def observe(self) -> tuple[dict[str, int], int | None]:
        s = self.settings
        stored = await asyncio.to_thread(harness.stored_reads, s)
        delivered = await asyncio.to_thread(harness.deliveries, s, self.codec)
        topics = [
            s.topic(t)
            for t in ("reads.raw", "reads.normalized", "dedup-ticks", "reads", "hits", "audit")
        ]
        lag = await asyncio.to_thread(harness.group_lag, s, self.group, topics)
        shared = await asyncio.to_thread(harness.group_lag, s, self.share_group, [s.topic("hits")])
        total = None if lag is None or shared is None else lag + shared
        return check(self.posted, stored, delivered), total

    async def drain(self) -> tuple[dict[str, int], int | None]:
        """Until everything is in and nothing is left to consume, or nothing changed for
        ``stable_seconds`` with nothing left, or the drain timeout."""
        deadline = time.monotonic() + self.options.drain_timeout
        last: tuple[int, ...] = ()
        changed = time.monotonic()
        complete_polls = 0
        while True:
            verdict, lag = await self.observe()
            now = time.monotonic()
            snapshot = (
                verdict["reads_stored"],
                verdict["hits_delivered"],
                verdict["duplicate_deliveries"],
                verdict["reads_duplicated"],
            )
            if snapshot != last:
                last, changed = snapshot, now
            complete = verdict["reads_lost"] == 0 and verdict["hits_lost"] == 0
            self.say(
                f"drain: {verdict['reads_stored']}/{verdict['reads_accepted']} reads, "
                f"{verdict['hits_delivered']}/{verdict['hits_expected']} hits, lag {lag}"
            )
            if lag == 0 and complete:
                complete_polls += 1
                if complete_polls >= 3:  # late copies would have shown by now
                    return verdict, lag
            else:
                complete_polls = 0
            if lag == 0 and now - changed > self.options.stable_seconds:
                return verdict, lag
            if now > deadline:
                return verdict, lag
            await asyncio.sleep(POLL_S)

    # --- the run ----------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        options = self.options
        started = time.monotonic()
        plan = make_plan(options.reads, options.seed, options.hit_share)
        await asyncio.to_thread(self.start_servers)
        self.servers_up = True
        self.logs.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.publish, plan)
        self.worker.start()
        self.ingest.start()
        await self.ingest_ready()
        await self.worker_ready(plan)
        self.say(
            f"ready: {len(plan.reads)} reads ({plan.hot_reads} hits) over "
            f"{len(plan.cameras)} cameras; logs in {self.logs}"
        )
        supervisors = [
            asyncio.create_task(harness.supervise(p, self.say, self.stop_supervising))
            for p in (self.worker, self.ingest)
        ]
        post_seconds = options.post_seconds or max(
            options.reads / options.max_rate, options.cassandra_outage_seconds + 90
        )
        rate = options.reads / post_seconds
        cameras = harness.Cameras(
            plan, f"http://127.0.0.1:{self.ingest_port}", TOKEN, rate, self.posted
        )
        self.faults.start, self.faults.start_wall = time.monotonic(), time.time()
        posting = asyncio.create_task(cameras.run(deadline=time.monotonic() + post_seconds + 900))
        await self.inject(post_seconds)
        await posting
        posted_s = time.monotonic() - self.faults.start
        self.say(f"posted for {posted_s:.0f} s; draining")
        drain_started = time.monotonic()
        verdict, lag = await self.drain()
        self.stop_supervising.set()
        await asyncio.gather(*supervisors)
        letters = await asyncio.to_thread(harness.dead_letters, self.settings, self.codec)
        stored = await asyncio.to_thread(harness.stored_reads, self.settings)
        lost = lost_reads(self.posted, stored)
        traced = await asyncio.to_thread(
            harness.trace, self.settings, self.codec, lost[:10], self.group, self.faults.start_wall
        )
        for entry, key in zip(traced, lost, strict=False):
            entry["accepted_at_s"] = round(self.posted.accepted_at[key] - self.faults.start_wall, 1)
        stats = cameras.stats
        return {
            **verdict,
            "faults_injected": self.faults.injected,
            "seconds": round(time.monotonic() - started, 1),
            "reads_planned": len(plan.reads),
            "reads_not_accepted": len(plan.reads) - verdict["reads_accepted"],
            "ingest_requests": stats.requests,
            "ingest_503": stats.unavailable_503,
            "ingest_no_answer": stats.errors,
            "ingest_refused": dict(stats.refused),
            "longest_wait_for_202_s": round(stats.first_accept_delay_s, 1),
            "worker_restarts": self.worker.runs - 1,
            "worker_unexpected_exits": self.worker.unexpected_exits,
            "ingest_unexpected_exits": self.ingest.unexpected_exits,
            "dead_letters": letters,
            "consumer_lag_at_end": lag,
            "post_seconds": round(posted_s, 1),
            "drain_seconds": round(time.monotonic() - drain_started, 1),
            "fault_log": self.faults.events,
            "lost_reads": traced,
            "logs": str(self.logs),
            "conditions": {
                "reads_per_s": round(rate, 1),
                "cameras": len(plan.cameras),
                "hotlist_entries": len(plan.entries),
                "topic_partitions": self.settings.topic_partitions,
                "dedup_window_seconds": self.settings.dedup_window_seconds,
                "dedup_settle_seconds": self.settings.dedup_settle_seconds,
                "seed": options.seed,
                "cpus": os.cpu_count(),
            },
        }

    def cleanup(self) -> None:
        """Always: our processes stopped, Cassandra running again; then the run's topics,
        keyspace and table data removed, and our servers stopped (unless kept)."""
        self.stop_supervising.set()
        for process in (self.worker, self.ingest):
            try:
                process.stop()
            except OSError as error:
                self.say(f"stopping {process.name}: {error}")
        try:
            self.resume_cassandra()
        except RuntimeError as error:
            self.say(f"resuming Cassandra: {error}")
        if self.options.keep_servers:
            return  # servers, topics, keyspace and the worker's table data, to look at
        if self.servers_up:
            self._drop_run_data()
        shutil.rmtree(self.settings.cache_dir / "faust" / self.group, ignore_errors=True)
        down(self.settings, progress=lambda name, msg: self.say(f"{name}: {msg}"))

    def _drop_run_data(self) -> None:
        from connectors.cassandra import CassandraStore
        from connectors.kafka.topics import admin_client

        s = self.settings
        try:
            with CassandraStore(s, create_schema=False) as store:
                store.session.execute(f"DROP KEYSPACE IF EXISTS {store.keyspace}", timeout=60)
        except Exception as error:  # best effort: the run's verdict is already made
            self.say(f"dropping keyspace {s.cassandra_keyspace}: {error}")
        try:
            admin = admin_client(s)
            names = [
                t for t in admin.list_topics(timeout=20).topics if t.startswith(s.topic_prefix)
            ]
            if names:
                for future in admin.delete_topics(names).values():
                    future.result(timeout=60)
        except Exception as error:
            self.say(f"deleting topics {s.topic_prefix}.*: {error}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_faults(options: FaultOptions) -> dict[str, Any]:
    """Runs the suite; returns its verdict. Cleans up whatever happens."""
    unknown = options.skip_faults - set(FAULTS)
    if unknown:
        raise SystemExit(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
    suite = Suite(options)

    async def main() -> dict[str, Any]:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        # Ctrl-C or a SIGTERM stops the run and still cleans up (the finally below).
        for sig in (signal.SIGINT, signal.SIGTERM):
            if task is not None:
                loop.add_signal_handler(sig, task.cancel)
        return await suite.run()

    try:
        return asyncio.run(main())
    finally:
        suite.cleanup()


def parse_args(argv: Sequence[str] | None) -> FaultOptions:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = FaultOptions()
    parser.add_argument("--reads", type=int, default=defaults.reads)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--skip-fault", action="append", choices=FAULTS, default=[])
    parser.add_argument(
        "--cassandra-outage-seconds", type=float, default=defaults.cassandra_outage_seconds
    )
    parser.add_argument("--worker-kills", type=int, default=defaults.worker_kills)
    parser.add_argument("--broker-down-seconds", type=float, default=defaults.broker_down_seconds)
    parser.add_argument(
        "--keep-servers",
        action="store_true",
        help="leave the suite's servers running, with the run's topics, keyspace and the "
        "worker's table data (to look into a failed run)",
    )
    parser.add_argument("--hit-share", type=float, default=defaults.hit_share)
    parser.add_argument("--post-seconds", type=float, default=None)
    parser.add_argument("--drain-timeout", type=float, default=defaults.drain_timeout)
    parser.add_argument("--cache-dir", type=Path, default=defaults.cache_dir)
    parser.add_argument("--kafka-port", type=int, default=defaults.kafka_port)
    parser.add_argument("--kafka-controller-port", type=int, default=defaults.kafka_controller_port)
    parser.add_argument("--cassandra-port", type=int, default=defaults.cassandra_port)
    parser.add_argument(
        "--cassandra-storage-port", type=int, default=defaults.cassandra_storage_port
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    return FaultOptions(
        reads=args.reads,
        seed=args.seed,
        skip_faults=frozenset(args.skip_fault),
        cassandra_outage_seconds=args.cassandra_outage_seconds,
        worker_kills=args.worker_kills,
        broker_down_seconds=args.broker_down_seconds,
        keep_servers=args.keep_servers,
        hit_share=args.hit_share,
        post_seconds=args.post_seconds,
        drain_timeout=args.drain_timeout,
        cache_dir=args.cache_dir.resolve(),
        kafka_port=args.kafka_port,
        kafka_controller_port=args.kafka_controller_port,
        cassandra_port=args.cassandra_port,
        cassandra_storage_port=args.cassandra_storage_port,
        quiet=args.quiet,
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    result = run_faults(parse_args(argv))
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
