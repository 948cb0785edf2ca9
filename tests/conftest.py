"""Test tiers: unit (no servers), integration (real Kafka/Cassandra), e2e (workers too).

Integration and e2e tests start the local servers if they are not running, and each
test gets its own topic prefix (and each module its own keyspace), so tests never see
each other's records.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest
from hypothesis import settings as hypothesis_settings

from pipelines.access import Role, as_role
from pipelines.settings import REPO_ROOT, Settings, get_settings

# No deadline on a property test's examples: speed is measured by benchmarks/, and a
# loaded 2-core CI machine can take a few hundred ms for an example that takes 5 here.
hypothesis_settings.register_profile("lprx", deadline=None)
hypothesis_settings.load_profile("lprx")

if TYPE_CHECKING:
    from confluent_kafka import Message, Producer

T = TypeVar("T")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path)
        if "/integration/" in path:
            item.add_marker(pytest.mark.integration)
        if "/e2e/" in path:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def servers() -> Settings:
    """The real local Kafka and Cassandra, started if needed (secured: TLS, SCRAM,
    ACLs, Cassandra roles). Tests themselves log in as the setup principal; the
    processes they start log in as their own service (pipelines/access.py)."""
    from connectors.servers import up

    settings = as_role(get_settings(), Role.SETUP)
    up(settings)
    return settings


def as_principal(settings: Settings, principal: str) -> Settings:
    """``settings`` logging in to Kafka as ``principal`` (its password file from setup)."""
    return settings.model_copy(
        update={"kafka_principal": principal, "kafka_password": None, "kafka_password_file": None}
    )


def provision(settings: Settings) -> Settings:
    """What ``lprx setup`` makes for these settings' topic prefix (topics, ACLs)."""
    from pipelines.access import provision as setup

    setup(settings)
    return settings


def unique_settings(base: Settings, **update: object) -> Settings:
    uid = uuid.uuid4().hex[:10]
    values: dict[str, object] = {
        "topic_prefix": f"test-{uid}",
        "cassandra_keyspace": f"test_{uid}",
        "worker_id": f"test-{uid}",
    }
    values.update(update)
    return base.model_copy(update=values)


@pytest.fixture
def kafka_settings(servers: Settings) -> Settings:
    """Settings with this test's own topics, created, and its services' ACLs."""
    return provision(unique_settings(servers, topic_partitions=1))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metric_sum(metrics_port: int, name: str, **labels: str) -> float:
    """A running process's metric ``name``, summed over the samples with ``labels``
    (raises while its metrics do not answer)."""
    import httpx

    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.split("{")[0].split(" ")[0] == name and all(w in line for w in wanted)
    )


def records_total(metrics_port: int, stage: str, outcome: str) -> float:
    """``lprx_records_total`` for ``stage`` and ``outcome``, summed over its other labels."""
    return metric_sum(metrics_port, "lprx_records_total", stage=stage, outcome=outcome)


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.25) -> T:
    """Polls ``check`` until it returns something truthy; fails naming ``what``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def after_an_aborted_transaction(
    settings: Settings, topic: str, records: int, key: bytes = b"k"
) -> Producer:
    """Writes ``records`` records to ``topic`` in a transaction, aborts it (offsets a
    read_committed consumer never gets, then the abort's marker), and returns the
    transactional producer for more."""
    from connectors.kafka.topics import make_transactional_producer

    producer = make_transactional_producer(settings, "test-aborted", f"{topic}-aborted")
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(records):
        producer.produce(topic, key=key, value=b"aborted %d" % i)
    producer.flush(15)
    producer.abort_transaction(30)
    return producer


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment that makes a child process see these settings."""
    env = dict(os.environ)
    env.update(
        {
            "LPRX_TOPIC_PREFIX": settings.topic_prefix,
            "LPRX_CASSANDRA_KEYSPACE": settings.cassandra_keyspace,
            "LPRX_WORKER_ID": settings.worker_id,
            "LPRX_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "LPRX_DEDUP_WINDOW_SECONDS": str(settings.dedup_window_seconds),
            "LPRX_DEDUP_SETTLE_SECONDS": str(settings.dedup_settle_seconds),
            "LPRX_DEDUP_SITES": json.dumps(settings.dedup_sites),
            "LPRX_STORE_BATCH_SECONDS": str(settings.store_batch_seconds),
        }
    )
    return env


class Process:
    """A child lprx process with its output in a log file shown on failure."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[list[str], dict[str, str]], Process]]:
    processes: list[Process] = []

    def start(args: list[str], env: dict[str, str]) -> Process:
        process = Process(args, env, tmp_path / f"{args[0]}-{len(processes)}.log")
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.stop()


def consume(settings: Settings, name: str, want: int, timeout: float = 15.0) -> list[Message]:
    """Up to ``want`` messages from the start of topic ``name``, waiting at most ``timeout``."""
    return consume_messages(settings, settings.topic(name), want, timeout)


def consume_messages(
    settings: Settings, topic: str, want: int, timeout: float = 15.0
) -> list[Message]:
    """``consume`` for a topic named in full (a Faust changelog, say)."""
    from connectors.kafka.reader import read_topic

    return read_topic(settings, topic, max_messages=want, timeout_s=timeout, to_end=False)
