"""The demo's child processes (workers, ingest), started as `lprx` commands."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

from pipelines.settings import REPO_ROOT, Settings


class Processes:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        child = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", "pipelines.cli", *args],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
        )  # fmt: skip
        self.children.append((name, child))

    def check(self) -> None:
        for name, child in self.children:
            if child.poll() is not None:
                tail = (self.log_dir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {child.returncode}:\n{tail}")

    def stop(self) -> None:
        for _, child in self.children:
            child.terminate()
        for _, child in self.children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()


def start_processes(
    settings: Settings, log_dir: Path, credentials: Path, console: Console
) -> Processes:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    processes = Processes(log_dir)
    console.print(f"4/6 workers, HTTP ingest and the people's API (logs in {log_dir})")
    pipeline_stages = ["--stages", "normalize,match,share,store"]
    pipeline_port = ["--metrics-port", str(settings.metrics_port)]
    processes.start("worker-pipeline", ["worker", *pipeline_stages, *pipeline_port], env)
    ocr_port = ["--metrics-port", str(settings.metrics_port + 1)]
    processes.start("worker-ocr", ["worker", "--stages", "ocr", *ocr_port], env)
    processes.start("ingest", ["ingest"], {**env, "LPRX_INGEST_CREDENTIALS_FILE": str(credentials)})
    processes.start("api", ["api"], env)
    return processes


def wait_until_api_up(settings: Settings, processes: Processes, timeout: float = 120) -> None:
    """``lprx api`` answers its health check over HTTPS (the lprx CA)."""
    from pipelines.api.wiring import api_url

    verify = str(settings.default_ca_file) if settings.api_tls else False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api_url(settings)}/health", verify=verify, timeout=2).is_success:
                return
        time.sleep(0.5)
    raise RuntimeError("the API did not come up in time")


def wait_until_up(ingest_url: str, processes: Processes, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{ingest_url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError("the ingest endpoint did not come up in time")
