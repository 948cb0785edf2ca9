"""Liveness comes from the event loop's own heartbeat: a real loop, blocked, stops
beating and its worker is reported not live; readiness lists what is wrong."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from pipelines.health import Health, HealthCollector, WorkerServer

BEAT_S = 0.02
STALE_S = 0.3


@pytest.fixture
def loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_worker_whose_loop_is_blocked_is_not_live(
    loop_thread: asyncio.AbstractEventLoop,
) -> None:
    health = Health(beat_interval_s=BEAT_S, stale_after_s=STALE_S, startup_grace_s=0)
    server = WorkerServer(health, port=0)
    server.start()
    beating = asyncio.run_coroutine_threadsafe(health.heartbeat(), loop_thread)
    try:
        wait_for(lambda: health.heartbeat_age() is not None)
        url = f"http://127.0.0.1:{server.port}"
        assert get(f"{url}/livez") == (200, "ok\n")
        assert get(f"{url}/readyz") == (200, "ok\n")

        # Something on the loop blocks it (a synchronous call, say): no more beats.
        released = threading.Event()
        loop_thread.call_soon_threadsafe(released.wait, 10)
        try:
            wait_for(lambda: not health.live().ok, timeout=STALE_S * 10)
            status, body = get(f"{url}/livez")
            assert status == 503 and "stuck" in body
            registry = CollectorRegistry()
            registry.register(HealthCollector(health))
            assert registry.get_sample_value("lprx_live") == 0.0
        finally:
            released.set()
        # Unblocked, it beats again and is live.
        wait_for(lambda: health.live().ok, timeout=STALE_S * 10)
        assert get(f"{url}/livez")[0] == 200
    finally:
        server.stop()
        beating.cancel()
        wait_for(beating.done)


def test_no_heartbeat_after_the_startup_grace_is_not_live() -> None:
    now = [0.0]
    health = Health(stale_after_s=30, startup_grace_s=60, clock=lambda: now[0])
    assert health.live().ok  # starting: Faust has not started its tasks yet
    assert not health.ready().ok
    now[0] = 61.0
    (problem,) = health.live().problems
    assert "no heartbeat" in problem


def test_readiness_names_each_failing_check() -> None:
    now = [0.0]
    health = Health(clock=lambda: now[0])
    health.beat()
    behind = ["lprx.hotlist"]
    health.add_check("followers", lambda: f"not caught up: {behind[0]}" if behind else None)
    health.add_check("cassandra", lambda: 1 / 0)  # type: ignore[arg-type,return-value]
    verdict = health.ready()
    assert not verdict.ok and verdict.problems == (
        "followers: not caught up: lprx.hotlist",
        "cassandra: check failed: ZeroDivisionError: division by zero",
    )
    assert health.live().ok  # readiness problems never fail liveness


def test_the_worker_log_says_each_change_of_readiness_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pipelines.health import VerdictLog

    health = Health()
    health.beat()
    behind = [True]
    health.add_check("followers", lambda: "not caught up: p.hotlist" if behind[0] else None)
    verdicts = VerdictLog(health)
    with caplog.at_level("WARNING", logger="pipelines.health"):
        verdicts.check()
        verdicts.check()  # unchanged: not logged again
        behind[0] = False
        verdicts.check()
    assert [r.getMessage() for r in caplog.records] == [
        "lprx worker: not ready: followers: not caught up: p.hotlist",
        "lprx worker: ready",
    ]
