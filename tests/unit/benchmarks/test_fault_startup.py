"""The fault suite's wait for a starting worker (benchmarks/faults.py), without servers:
a worker that dies while starting is restarted and counted, as once the cameras post."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from benchmarks import fault_harness as harness
from benchmarks import faults
from benchmarks.fault_scenario import make_plan


class _Popen:
    def __init__(self, returncode: int | None) -> None:
        self.returncode = returncode


class _Worker:
    """Dies (SIGSEGV) on each of its first ``crashes`` starts, then keeps running."""

    def __init__(self, crashes: int) -> None:
        self.crashes = crashes
        self.runs = 1
        self.unexpected_exits: list[int] = []
        self.popen = _Popen(-11 if crashes else None)

    def alive(self) -> bool:
        return self.popen.returncode is None

    def start(self) -> None:
        self.runs += 1
        self.popen = _Popen(-11 if self.runs <= self.crashes else None)

    def tail(self, lines: int = 40) -> str:
        return "(exit status -11)"


def _suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worker: _Worker) -> Any:
    options = faults.FaultOptions(
        reads=50, cache_dir=tmp_path, kafka_port=41001, kafka_controller_port=41002,
        cassandra_port=41003, cassandra_storage_port=41004, quiet=True,
    )  # fmt: skip
    suite = faults.Suite(options)
    suite.worker = worker  # type: ignore[assignment]
    plan = make_plan(options.reads, options.seed, options.hit_share)

    async def metric(name: str) -> float | None:
        if not worker.alive():
            return None
        return float(len(plan.entries) if name == "lprx_hotlist_entries" else len(plan.agreements))

    monkeypatch.setattr(suite, "metric", metric)
    monkeypatch.setattr(harness, "group_lag", lambda *args: 0)
    monkeypatch.setattr(asyncio, "sleep", _no_wait)
    return suite, plan


_sleep = asyncio.sleep


async def _no_wait(_seconds: float) -> None:
    await _sleep(0)


def test_a_worker_that_crashes_while_starting_is_restarted_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = _Worker(crashes=1)
    suite, plan = _suite(tmp_path, monkeypatch, worker)
    asyncio.run(suite.worker_ready(plan))
    assert worker.unexpected_exits == [-11]
    assert worker.runs == 2
    assert worker.alive()


def test_a_worker_that_keeps_crashing_while_starting_fails_the_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = _Worker(crashes=faults.MAX_START_EXITS + 5)
    suite, plan = _suite(tmp_path, monkeypatch, worker)
    with pytest.raises(RuntimeError, match="exited 4 times while starting"):
        asyncio.run(suite.worker_ready(plan))
    assert worker.unexpected_exits == [-11] * (faults.MAX_START_EXITS + 1)
