"""fetch / up / status / down for the local servers, as a plain Python API.

Every call is idempotent: ``up`` on running servers only confirms they answer, ``fetch``
skips jars already fetched, ``down`` on stopped servers does nothing. A lock file makes
concurrent calls (parallel test workers, two shells) wait for each other instead of
starting a server twice.
"""

from __future__ import annotations

import fcntl
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from connectors.servers.base import (
    Server,
    ServerError,
    ServerStatus,
    find_java,
    find_mvn,
    port_open,
)
from connectors.servers.cassandra_server import CassandraServer
from connectors.servers.config import ServersConfig
from connectors.servers.kafka_server import KafkaServer
from connectors.servers.keycloak_server import KeycloakServer

SERVERS: dict[str, type[Server]] = {
    "kafka": KafkaServer,
    "cassandra": CassandraServer,
    "keycloak": KeycloakServer,
}
# What `up` and `down` mean without naming servers: the pipeline's. Keycloak (an agency
# identity provider for tests and the demo) starts only when named.
SERVICES: tuple[str, ...] = ("kafka", "cassandra")

# Called with (service name, message) as work progresses; the CLI shows them.
Progress = Callable[[str, str], None]


def _silent(_name: str, _message: str) -> None:
    pass


def servers(settings: ServersConfig, services: Sequence[str] = SERVICES) -> list[Server]:
    unknown = [s for s in services if s not in SERVERS]
    if unknown:
        raise ServerError(
            f"Unknown service {', '.join(unknown)}; choose from {', '.join(SERVERS)}."
        )
    # Keep the canonical order (Kafka first: it is ready sooner) and drop repeats.
    return [SERVERS[name](settings) for name in SERVERS if name in services]


@contextmanager
def _locked(settings: ServersConfig) -> Iterator[None]:
    settings.servers_dir.mkdir(parents=True, exist_ok=True)
    with (settings.servers_dir / ".lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _fetch(chosen: list[Server], force: bool, progress: Progress) -> None:
    todo = [server for server in chosen if force or not server.fetched]
    if todo:
        find_mvn()  # fail with the clear message before announcing any work
    for server in todo:
        progress(server.name, f"fetching {server.name} {server.version} jars with Maven")
        started = time.monotonic()
        server.fetch(force=force)
        progress(server.name, f"fetched in {time.monotonic() - started:.1f}s")


def fetch(
    settings: ServersConfig,
    services: Sequence[str] = SERVICES,
    *,
    force: bool = False,
    progress: Progress = _silent,
) -> None:
    """Download the jars of ``services`` from Maven Central (once; ``force`` refetches)."""
    chosen = servers(settings, services)
    with _locked(settings):
        _fetch(chosen, force, progress)


def up(
    settings: ServersConfig,
    services: Sequence[str] = SERVICES,
    *,
    timeout: float | None = None,
    progress: Progress = _silent,
) -> list[ServerStatus]:
    """Fetch, configure and start ``services``; return once each answers a client.

    ``timeout`` (seconds, per server) defaults to 90 s for Kafka and 180 s for
    Cassandra. Servers started here keep running after this process exits.
    """
    chosen = servers(settings, services)
    java = find_java()
    for server in chosen:
        server.check_java(java)
    with _locked(settings):
        _fetch(chosen, False, progress)
        # Launch everything first, then wait: the JVMs start in parallel.
        starting: dict[str, tuple[int, int, float]] = {}
        for server in chosen:
            pid = server.running_pid()
            if pid is not None:
                progress(server.name, f"already running (pid {pid})")
                starting[server.name] = (pid, 0, time.monotonic())
                continue
            busy = server.busy_ports()
            if busy:
                ports = ", ".join(str(p) for p in busy)
                what = (
                    f"port {ports} on {server.host} is"
                    if len(busy) == 1
                    else (f"ports {ports} on {server.host} are")
                )
                raise ServerError(
                    f"Cannot start {server.name}: {what} already used by another program "
                    f"(not a {server.name} that lprx started); stop that program or "
                    "change the port in the settings."
                )
            starting[server.name] = (*server.start(java), time.monotonic())
            progress(server.name, f"started (pid {starting[server.name][0]}), waiting")
        for server in chosen:
            pid, log_offset, launched = starting[server.name]
            _wait_ready(
                server, pid, log_offset, launched, timeout or server.start_timeout, progress
            )
    return [server.status() for server in chosen]


def _wait_ready(
    server: Server, pid: int, log_offset: int, started: float, timeout: float, progress: Progress
) -> None:
    while True:
        if server.running_pid() != pid:
            raise ServerError(
                f"{server.name} exited while starting; the last log lines:\n"
                + server.last_lines(log_offset)
            )
        if port_open(server.host, server.ports[0]) and server.check_ready(timeout=5.0):
            server.after_ready()
            progress(server.name, f"ready after {time.monotonic() - started:.1f}s")
            return
        if time.monotonic() - started > timeout:
            raise ServerError(
                f"{server.name} (pid {pid}) did not answer within {timeout:.0f}s; it is "
                "left running (a later `up` waits again). The last log lines:\n"
                + server.last_lines(log_offset)
            )
        time.sleep(1.0)


def status(settings: ServersConfig, services: Sequence[str] = SERVICES) -> list[ServerStatus]:
    """Whether each server runs, listens and answers a real client request."""
    return [server.status() for server in servers(settings, services)]


def down(
    settings: ServersConfig,
    services: Sequence[str] = SERVICES,
    *,
    progress: Progress = _silent,
) -> None:
    """Stop ``services``: SIGTERM (clean shutdown), then SIGKILL after a grace period."""
    chosen = servers(settings, services)
    with _locked(settings):
        stopping: list[tuple[Server, int]] = []
        for server in chosen:
            pid = server.running_pid()
            if pid is None:
                server.pid_file.unlink(missing_ok=True)
                progress(server.name, "not running")
                continue
            server.signal(pid, signal.SIGTERM)
            progress(server.name, f"stopping (pid {pid})")
            stopping.append((server, pid))
        for server, pid in stopping:
            started = time.monotonic()
            if not server.wait_gone(pid, server.stop_timeout):
                progress(server.name, f"no clean exit after {server.stop_timeout:.0f}s, killing")
                server.signal(pid, signal.SIGKILL)
                if not server.wait_gone(pid, 10.0):
                    raise ServerError(f"{server.name} (pid {pid}) survived SIGKILL.")
            server.pid_file.unlink(missing_ok=True)
            progress(server.name, f"stopped in {time.monotonic() - started:.1f}s")
