"""The fault suite's moving parts: its own servers, the lprx processes, the cameras, and
the observers that read back what Cassandra and the hit topics hold.

Everything here acts only on what the suite itself started: the servers are found by the
pid files of the suite's own cache folder (``connectors.servers`` checks each pid's
command line names that folder), the lprx processes are the suite's children.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.fault_scenario import Delivery, Plan, PlannedRead, Posted, ReadKey, StoredRead
from connectors.kafka.reader import read_topic
from connectors.kafka.topics import admin_client, make_consumer
from connectors.servers.base import Server
from connectors.servers.config import ServersConfig
from connectors.servers.manager import SERVERS
from pipelines.settings import REPO_ROOT, Settings
from schemas import Codec
from schemas.records import DeadLetter, Hit, PlateRead

Log = Callable[[str], None]


# --- servers -----------------------------------------------------------------------------


def server(settings: ServersConfig, name: str) -> Server:
    return SERVERS[name](settings)


def seed_jars(settings: ServersConfig, sources: list[Path], log: Log) -> None:
    """Lends the jars of a cache that already fetched them (``lib`` linked, the
    ``lib.fetched`` marker copied), so the suite's servers need no Maven run."""
    for name in SERVERS:
        ours = server(settings, name)
        if ours.fetched:
            continue
        for source in sources:
            home = source / name
            if (home / "lib.fetched").is_file() and (home / "lib").is_dir():
                donor = SERVERS[name](settings.model_copy(update={"cache_dir": source.parent}))
                if not donor.fetched:
                    continue  # jars of another POM
                ours.home.mkdir(parents=True, exist_ok=True)
                if ours.lib.is_symlink() or ours.lib.exists():
                    if ours.lib.is_symlink():
                        ours.lib.unlink()
                    else:
                        shutil.rmtree(ours.lib)
                ours.lib.symlink_to((home / "lib").resolve(), target_is_directory=True)
                shutil.copyfile(home / "lib.fetched", ours.marker)
                log(f"{name}: jars lent from {home}")
                break


def signal_server(settings: ServersConfig, name: str, sig: signal.Signals) -> int:
    """Sends ``sig`` to the suite's own ``name`` server; returns its pid."""
    ours = server(settings, name)
    pid = ours.running_pid()
    if pid is None:
        raise RuntimeError(f"the suite's {name} is not running (no pid in {ours.pid_file})")
    ours.signal(pid, sig)
    return pid


def kill_server(settings: ServersConfig, name: str) -> int:
    pid = signal_server(settings, name, signal.SIGKILL)
    if not server(settings, name).wait_gone(pid, 30):
        raise RuntimeError(f"{name} (pid {pid}) survived SIGKILL")
    return pid


# --- lprx processes ------------------------------------------------------------------------


class LprxProcess:
    """One lprx command as a child process, restartable, each run with its own log."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.logs = logs
        self.popen: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.unexpected_exits: list[int] = []
        self.killing = False  # a kill of ours in progress: an exit is expected

    @property
    def log_path(self) -> Path:
        return self.logs / f"{self.name}-{self.runs}.log"

    def start(self) -> None:
        self.runs += 1
        with self.log_path.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "pipelines.cli", *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )
        self.killing = False

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a node failure or an OOM kill would."""
        self.killing = True
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()

    def stop(self) -> None:
        if self.popen is None:
            return
        self.killing = True
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log, after its exit status if it has exited."""
        code = self.popen.poll() if self.popen is not None else None
        status = "" if code is None else f"(exit status {code})\n"
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return status
        return status + "\n".join(text.splitlines()[-lines:])


async def supervise(process: LprxProcess, log: Log, stop: asyncio.Event) -> None:
    """Restarts the process when it exits on its own (as Kubernetes would), counting it."""
    while not stop.is_set():
        await asyncio.sleep(0.5)
        if process.killing or process.popen is None:
            continue
        code = process.popen.poll()
        if code is not None:
            process.unexpected_exits.append(code)
            log(
                f"{process.name} exited by itself ({code}); restarting. Its log ends:\n"
                f"{process.tail()}"
            )
            await asyncio.sleep(2)
            process.start()


def metric(port: int, name: str) -> float | None:
    """The sum of a metric's samples on a worker's /metrics, None if it does not answer."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


# --- cameras -------------------------------------------------------------------------------


@dataclass
class CameraStats:
    requests: int = 0
    accepted_requests: int = 0
    unavailable_503: int = 0
    errors: int = 0  # no answer (timeout, connection refused)
    refused: Counter[int] = field(default_factory=Counter)  # any other status
    first_accept_delay_s: float = 0.0  # longest wait of a read from due to accepted


class Cameras:
    """Posts the plan's reads over HTTP as cameras do: each camera sends the reads due,
    one request at a time, keeps a read until a 202 took it, and retries a 503 after its
    Retry-After (and a request that got no answer after a second)."""

    MAX_BATCH = 20
    TIMEOUT_S = 30.0

    def __init__(self, plan: Plan, url: str, token: str, rate: float, posted: Posted) -> None:
        self.plan = plan
        self.url = f"{url}/v1/reads"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.rate = rate
        self.posted = posted
        self.stats = CameraStats()

    async def run(self, deadline: float) -> None:
        start = time.monotonic()
        by_camera: dict[str, list[PlannedRead]] = {}
        for read in self.plan.reads:
            by_camera.setdefault(read.camera_id, []).append(read)
        await asyncio.gather(
            *(self._camera(reads, start, deadline) for reads in by_camera.values())
        )

    async def _camera(self, reads: list[PlannedRead], start: float, deadline: float) -> None:
        # A client per camera, as cameras are: one shared pool of hundreds of cameras'
        # requests, some timing out while the broker is down, was seen to stall in
        # httpcore with no connection open.
        async with httpx.AsyncClient(timeout=self.TIMEOUT_S) as client:
            await self._post_all(client, reads, start, deadline)

    async def _post_all(
        self, client: httpx.AsyncClient, reads: list[PlannedRead], start: float, deadline: float
    ) -> None:
        waiting: list[tuple[PlannedRead, ReadKey, float]] = []  # seen, not yet accepted
        upcoming = list(reads)
        while (upcoming or waiting) and time.monotonic() < deadline:
            now = time.monotonic()
            while upcoming and start + upcoming[0].index / self.rate <= now:
                waiting.append(self._seen(upcoming.pop(0), now))
            if not waiting:
                await asyncio.sleep(start + upcoming[0].index / self.rate - now)
                continue
            batch = waiting[: self.MAX_BATCH]
            retry_after = await self._post(client, batch)
            if retry_after is None:
                del waiting[: len(batch)]
            else:
                await asyncio.sleep(retry_after)

    def _seen(self, read: PlannedRead, now: float) -> tuple[PlannedRead, ReadKey, float]:
        collected_ms = int(datetime.now(UTC).timestamp() * 1000)
        key = ReadKey(read.camera_id, read.plate, collected_ms)
        self.posted.reads[key] = read
        return read, key, now

    async def _post(
        self, client: httpx.AsyncClient, batch: list[tuple[PlannedRead, ReadKey, float]]
    ) -> float | None:
        """None once the batch is settled (accepted or refused), else seconds to wait."""
        body = [
            {
                "plate": key.plate,
                "camera_id": key.camera_id,
                "camera_kind": "FIXED",
                "collected_at": datetime.fromtimestamp(key.collected_ms / 1000, UTC).isoformat(
                    timespec="milliseconds"
                ),
                "latitude": 44.98,
                "longitude": -93.27,
                "region": "us-mn",
                "confidence": 91.0,
            }
            for _, key, _ in batch
        ]
        self.stats.requests += 1
        try:
            response = await client.post(self.url, json=body, headers=self.headers)
        except httpx.HTTPError:
            self.stats.errors += 1
            return 1.0
        if response.status_code == 503:
            self.stats.unavailable_503 += 1
            return float(response.headers.get("Retry-After", "5"))
        if response.status_code != 202:
            self.stats.refused[response.status_code] += 1
            return None
        self.stats.accepted_requests += 1
        read_ids = response.json()["read_ids"]
        now = time.monotonic()
        for (_, key, seen), read_id in zip(batch, read_ids, strict=True):
            self.posted.accepted[key] = read_id
            self.posted.accepted_at[key] = time.time()
            self.stats.first_accept_delay_s = max(self.stats.first_accept_delay_s, now - seen)
        return None


# --- observers -----------------------------------------------------------------------------


def stored_reads(settings: Settings) -> list[StoredRead]:
    """Every row of ``reads_by_plate``, from a fresh session (one that lived through an
    outage may wait out the driver's reconnection back-off)."""
    from connectors.cassandra import CassandraStore

    with CassandraStore(settings, create_schema=False) as store:
        rows = store.session.execute(
            f"SELECT camera_id, plate, collected_at, read_id FROM {store.keyspace}.reads_by_plate"
        )
        result = []
        for camera_id, plate, collected_at, read_id in rows:
            ms = round(collected_at.replace(tzinfo=UTC).timestamp() * 1000)
            result.append(StoredRead(ReadKey(camera_id, plate, ms), read_id))
        return result


def hit_topics(settings: Settings) -> list[str]:
    """Every agency hit topic of this run (``<prefix>.hits.<ORI>``), whoever it is for."""
    prefix = settings.topic("hits.")
    topics = admin_client(settings).list_topics(timeout=20).topics
    return sorted(name for name in topics if name.startswith(prefix))


def deliveries(settings: Settings, codec: Codec) -> list[Delivery]:
    """Every hit on every agency topic, read committed, each topic to its end."""
    found = []
    prefix = settings.topic("hits.")
    for topic in hit_topics(settings):
        recipient = topic.removeprefix(prefix)
        for message in read_topic(settings, topic, max_messages=10**9, timeout_s=120):
            value = message.value()
            if value is None:
                continue
            hit = Hit.decode(codec, value)
            read = hit.read
            key = ReadKey(read.camera_id, read.plate, round(read.collected_at.timestamp() * 1000))
            found.append(Delivery(recipient, hit.hit_id, key, read.read_id, hit.entry.entry_id))
    return found


def trace(
    settings: Settings, codec: Codec, keys: list[ReadKey], group: str, since: float
) -> list[dict[str, Any]]:
    """Where each of ``keys`` went: every copy on the raw and deduplicated reads topics
    (id, partition, offset, seconds after ``since``) and the worker group's committed
    offset of that partition, so a lost read shows the last place it was seen."""
    wanted = set(keys)
    seen: dict[ReadKey, list[dict[str, Any]]] = {key: [] for key in keys}
    committed: dict[tuple[str, int], int] = {}
    for name in ("reads.raw", "reads"):
        topic = settings.topic(name)
        for message in read_topic(settings, topic, max_messages=10**9, timeout_s=120):
            value = message.value()
            if value is None:
                continue
            read = PlateRead.decode(codec, value)
            key = ReadKey(read.camera_id, read.plate, round(read.collected_at.timestamp() * 1000))
            if key in wanted:
                partition = message.partition() or 0
                committed.setdefault((topic, partition), -1)
                seen[key].append(
                    {
                        "topic": name,
                        "partition": partition,
                        "offset": message.offset(),
                        "read_id": read.read_id,
                        "at_s": round(message.timestamp()[1] / 1000 - since, 1),
                    }
                )
    passes = pass_states(settings, group, keys)
    offsets = committed_offsets(settings, group, list(committed))
    for copies in seen.values():
        for copy in copies:
            where = (settings.topic(copy["topic"]), copy["partition"])
            copy["group_committed"] = offsets.get(where)
    return [{"read": key.__dict__, "copies": seen[key], "dedup_pass": passes[key]} for key in keys]


def pass_states(settings: Settings, group: str, keys: list[ReadKey]) -> dict[ReadKey, Any]:
    """Each read's dedup pass as the worker's changelog topic has it (every record: held
    or not) and as its local table (RocksDB, opened read-only) holds it now. Names the
    worker's table and its key format (pipelines/stages/dedup.py): a diagnostic only."""
    import json

    from rocksdict import AccessType, Options, Rdict

    from schemas.plates import confusable_key

    table = "dedup-vehicle-passes"
    names = {f"{key.camera_id}/{confusable_key(key.plate)}": key for key in keys}
    states: dict[ReadKey, Any] = {key: {"changelog": [], "local_table": "absent"} for key in keys}
    changelog = f"{group}-{table}-changelog"
    for message in read_topic(settings, changelog, max_messages=10**9, timeout_s=120):
        name = json.loads(message.key() or b"null")
        if name in names:
            value = message.value()
            held = bool(value and json.loads(value).get("held"))
            states[names[name]]["changelog"].append("held" if held else "sent")
    tables = settings.cache_dir / "faust" / group / "v1" / "tables"
    for path in sorted(tables.glob(f"{table}-*.db")):
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            for name, key in names.items():
                value = db.get(json.dumps(name).encode())
                if value is not None:
                    held = bool(json.loads(value).get("held"))
                    states[key]["local_table"] = "held" if held else "sent"
        finally:
            db.close()
    return states


def committed_offsets(
    settings: Settings, group: str, partitions: list[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    consumer = make_consumer(settings, group)
    try:
        found = consumer.committed([TopicPartition(t, p) for t, p in partitions], timeout=10)
        return {(tp.topic, tp.partition): tp.offset for tp in found}
    finally:
        consumer.close()


def dead_letters(settings: Settings, codec: Codec) -> dict[str, int]:
    """Dead letters of the run, by stage and error type."""
    counts: Counter[str] = Counter()
    topic = settings.topic("deadletter")
    for message in read_topic(settings, topic, max_messages=10**9, timeout_s=60):
        value = message.value()
        if value is not None:
            letter = DeadLetter.decode(codec, value)
            counts[f"{letter.stage}:{letter.error_type}"] += 1
    return dict(counts)


MARKERS_AT_MOST = 64
"""A short gap between a group's committed offset and a partition's end may be only the
markers of transactions (share's), which take offsets and hold no record."""


def group_lag(settings: Settings, group: str, topics: list[str]) -> int | None:
    """Records of ``topics`` the consumer group has not committed yet (None: unknown).
    Asks for the group's committed offsets without joining the group. A consumer that
    reads no control records commits the offset after the last record it handled, so
    a short gap is read to tell records from transaction markers."""
    consumer = make_consumer(settings, group)
    try:
        metadata = consumer.list_topics(timeout=10).topics
        partitions = [
            TopicPartition(topic, p) for topic in topics for p in sorted(metadata[topic].partitions)
        ]
        lag = 0
        for tp in consumer.committed(partitions, timeout=10):
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            gap = high - (tp.offset if tp.offset >= 0 else low)
            if 0 < gap <= MARKERS_AT_MOST and tp.offset >= 0:
                gap = _records_after(settings, tp, high)
            lag += gap
        return lag
    except (KafkaException, KeyError):
        return None
    finally:
        consumer.close()


def _records_after(settings: Settings, start: TopicPartition, end: int) -> int:
    """The records (not markers) of ``start``'s partition from its offset to ``end``."""
    reader = make_consumer(
        settings, f"{settings.worker_id}-lag-{os.getpid()}", **{"enable.partition.eof": True}
    )
    try:
        reader.assign([start])
        count, deadline = 0, time.monotonic() + 10
        while time.monotonic() < deadline:
            for message in reader.consume(MARKERS_AT_MOST, timeout=0.5):
                error = message.error()
                if error is None:
                    count += 1
                    if (message.offset() or 0) >= end - 1:
                        return count
                elif error.code() == KafkaError._PARTITION_EOF:
                    return count
        return end - start.offset  # not read to its end: as many as there may be
    finally:
        reader.close()


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes an lprx process use the suite's servers and names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LPRX_")}
    values: dict[str, Any] = {
        "LPRX_CACHE_DIR": settings.cache_dir,
        "LPRX_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "LPRX_KAFKA_CONTROLLER_PORT": settings.kafka_controller_port,
        "LPRX_CASSANDRA_PORT": settings.cassandra_port,
        "LPRX_CASSANDRA_STORAGE_PORT": settings.cassandra_storage_port,
        "LPRX_TOPIC_PREFIX": settings.topic_prefix,
        "LPRX_TOPIC_PARTITIONS": settings.topic_partitions,
        "LPRX_CASSANDRA_KEYSPACE": settings.cassandra_keyspace,
        "LPRX_WORKER_ID": settings.worker_id,
        "LPRX_DEDUP_SETTLE_SECONDS": settings.dedup_settle_seconds,
        "LPRX_STORE_BATCH_SECONDS": settings.store_batch_seconds,
        # Every log line reaches the file before a crash (a file is block-buffered).
        "PYTHONUNBUFFERED": 1,
    }
    env.update({k: str(v) for k, v in values.items()})
    env.update(extra)
    return env
