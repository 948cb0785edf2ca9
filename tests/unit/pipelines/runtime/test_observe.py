"""The worker's readiness checks, each on its own: followers, Kafka, Cassandra, share."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.runtime import create_pipeline
from pipelines.runtime.observe import cassandra_check, followers_check, kafka_check
from pipelines.runtime.share import ShareService
from pipelines.settings import Settings
from tests.unit.pipelines.runtime.runtime_doubles import context


@dataclass
class Follower:
    topic: str
    caught_up: bool


def test_followers_are_ready_only_once_started_and_caught_up() -> None:
    ctx, _ = context()
    assert followers_check(ctx) == "not started"
    ctx.followers.started = [Follower("p.hotlist", False), Follower("p.agreements", True)]  # type: ignore[list-item]
    assert followers_check(ctx) == "not caught up: p.hotlist"
    ctx.followers.started = [Follower("p.hotlist", True)]  # type: ignore[list-item]
    assert followers_check(ctx) is None


@dataclass
class Monitor:
    last_answer: float | None
    last_error: str | None = None


def test_kafka_is_ready_while_the_lag_query_gets_answers() -> None:
    assert kafka_check(Monitor(None, "KafkaException: no broker"), 55) == (  # type: ignore[arg-type]
        "no answer yet (KafkaException: no broker)"
    )
    assert kafka_check(Monitor(time.monotonic()), 55) is None  # type: ignore[arg-type]
    stale = kafka_check(Monitor(time.monotonic() - 120, "timed out"), 55)  # type: ignore[arg-type]
    assert stale is not None and stale.startswith("no answer for 12")


class Session:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.asked: list[Any] = []

    def execute(self, query: str, timeout: float) -> None:
        self.asked.append((query, timeout))
        if self.error is not None:
            raise self.error


@dataclass
class Store:
    session: Session


def test_cassandra_is_ready_when_its_session_answers() -> None:
    ctx, _ = context()
    assert cassandra_check(ctx) == "no session yet"
    ctx._store = Store(Session(None))  # type: ignore[assignment]
    assert cassandra_check(ctx) is None
    ctx._store = Store(Session(TimeoutError("slow")))  # type: ignore[assignment]
    assert cassandra_check(ctx) == "does not answer: TimeoutError"


def test_a_share_worker_is_ready_while_its_loop_runs_and_commits(tmp_path: Path) -> None:
    worker = create_pipeline(
        Settings(
            table_store="memory://",
            table_data_dir=tmp_path,
            kafka_security_protocol="PLAINTEXT",
            worker_stages=["share"],
        )
    )
    service = worker.agents["share"]
    assert isinstance(service, ShareService)
    assert service.problem() == "not started (waiting for the agreements)"
    release = threading.Event()
    service._thread = threading.Thread(target=release.wait, daemon=True)
    service._thread.start()
    assert service.problem() == "starting"
    service.loop.last_done = time.monotonic()
    assert service.problem() is None
    service.loop.last_done -= 300
    service.loop.last_error = "KafkaException: broker down"
    assert service.problem() == "nothing committed for 300 s (KafkaException: broker down)"
    release.set()
    service._thread.join(5)
    assert service.problem() == "the loop stopped (see the log)"
