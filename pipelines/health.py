"""Whether a worker is live and ready, told by the worker itself, and its HTTP server.

    live    the event loop's own heartbeat (a coroutine on that loop) beat within
            ``stale_after_s``: a loop stuck in a blocking call, or spinning in one
            coroutine, stops beating and the probe fails. Before the first beat the worker
            counts as live for ``startup_grace_s`` (Faust starts its tasks after it has
            joined the group).
    ready   live, and every check passes: the compacted-topic followers have caught up
            (the hotlist and the agreements are whole), Kafka answered the lag query
            recently, and Cassandra answers (stages that use it).

``WorkerServer`` serves, on the metrics port, ``/metrics`` (the worker's registry and
the default one), ``/livez`` (also ``/healthz``) and ``/readyz``: 200 and ``ok``, or 503
and one problem per line. The same verdicts are logged when they change (``lprx
worker``) and shown by ``lprx services status --worker HOST:PORT``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import prometheus_client
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipelines import metrics

log = logging.getLogger(__name__)

Check = Callable[[], str | None]
"""A readiness check: None when fine, else what is wrong (one line, no secrets)."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    problems: tuple[str, ...]

    def text(self) -> str:
        return "ok\n" if self.ok else "".join(f"{p}\n" for p in self.problems)


class Health:
    def __init__(
        self,
        *,
        beat_interval_s: float = 1.0,
        stale_after_s: float = 30.0,
        startup_grace_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.beat_interval_s = beat_interval_s
        self.stale_after_s = stale_after_s
        self._clock = clock
        self._created = clock()
        self._startup_grace_s = startup_grace_s
        self._last_beat: float | None = None
        self._checks: dict[str, Check] = {}

    def beat(self) -> None:
        self._last_beat = self._clock()

    async def heartbeat(self) -> None:
        """Runs on the event loop it vouches for, until cancelled."""
        while True:
            self.beat()
            await asyncio.sleep(self.beat_interval_s)

    def heartbeat_age(self) -> float | None:
        return None if self._last_beat is None else self._clock() - self._last_beat

    def add_check(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def live(self) -> Verdict:
        age = self.heartbeat_age()
        if age is None:
            waited = self._clock() - self._created
            if waited <= self._startup_grace_s:
                return Verdict(True, ())
            return Verdict(False, (f"event loop: no heartbeat {waited:.0f} s after start",))
        if age > self.stale_after_s:
            return Verdict(False, (f"event loop: last heartbeat {age:.0f} s ago (stuck)",))
        return Verdict(True, ())

    def ready(self) -> Verdict:
        problems = list(self.live().problems)
        if self._last_beat is None:
            problems.append("event loop: not started yet")
        for name, check in self._checks.items():
            try:
                problem = check()
            except Exception as error:  # a check that breaks is a problem, not a crash
                problem = f"check failed: {type(error).__name__}: {error}"
            if problem is not None:
                problems.append(f"{name}: {problem}")
        return Verdict(not problems, tuple(problems))


class HealthCollector(Collector):
    """``lprx_live``, ``lprx_ready`` (1 or 0) and the heartbeat's age, at scrape time."""

    def __init__(self, health: Health) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "lprx_live", "1 when the worker's event loop beats.", value=self._health.live().ok
        )
        yield GaugeMetricFamily(
            "lprx_ready",
            "1 when the worker is live, its followers caught up and its servers answer.",
            value=self._health.ready().ok,
        )
        age = self._health.heartbeat_age()
        yield GaugeMetricFamily(
            "lprx_event_loop_heartbeat_age_seconds",
            "Seconds since the event loop's heartbeat last ran (-1: not yet).",
            value=-1.0 if age is None else age,
        )


def _handler(health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            if path == "/metrics":
                body = prometheus_client.generate_latest(prometheus_client.REGISTRY)
                body += prometheus_client.generate_latest(metrics.REGISTRY)
                self._answer(200, body, prometheus_client.CONTENT_TYPE_LATEST)
            elif path in ("/livez", "/healthz"):
                self._verdict(health.live())
            elif path == "/readyz":
                self._verdict(health.ready())
            else:
                self._answer(404, b"not found\n")

        def _verdict(self, verdict: Verdict) -> None:
            self._answer(200 if verdict.ok else 503, verdict.text().encode())

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every few seconds would flood the worker's log

    return Handler


class WorkerServer:
    """The worker's HTTP server (metrics and probes) in a daemon thread."""

    def __init__(self, health: Health, port: int, host: str = "127.0.0.1") -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(health))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lprx-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class VerdictLog:
    """Logs readiness when it changes, so ``lprx worker`` says what a probe would."""

    def __init__(self, health: Health) -> None:
        self._health = health
        self._last: Verdict | None = None

    def check(self) -> Verdict:
        verdict = self._health.ready()
        if verdict != self._last:
            if verdict.ok:
                log.warning("lprx worker: ready")
            else:
                log.warning("lprx worker: not ready: %s", "; ".join(verdict.problems))
            self._last = verdict
        return verdict
