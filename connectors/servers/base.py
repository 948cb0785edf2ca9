"""What every local server shares: folders, templates, java/mvn checks, the process.

Each server lives in ``<servers_dir>/<name>/``::

    pom.xml         the dependency list Maven fetched (copied from templates/)
    lib/            the jars; ``lib.fetched`` next to it holds the POM's hash
    conf/           rendered config files, rewritten on every start
    data/           the server's data (kept across restarts)
    logs/           the server log plus ``stdout.log`` (JVM-level output)
    <name>.pid      pid of the running JVM
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import ClassVar

from connectors.security.files import write_secret
from connectors.servers.config import ServersConfig
from schemas.errors import ConfigurationError

# Starts the JVM as a grandchild and exits at once, so the server is never a child of
# the caller: it outlives it, leaves no zombie if it dies, and needs no reaping.
_LAUNCHER = """\
import subprocess, sys
with open(sys.argv[1], "ab") as out:
    p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True)
print(p.pid)
"""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ServerError(ConfigurationError):
    """A local server could not be fetched, started or stopped; the message says why."""


@dataclass(frozen=True)
class ServerStatus:
    name: str
    version: str
    pid: int | None  # the JVM lprx started, if it is running
    port: int
    port_open: bool  # something accepts connections on the client port
    ready: bool  # a real client request succeeded
    log: Path


def template_text(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text("utf-8")


def render(template: str, dest: Path, values: dict[str, object], *, secret: bool = False) -> None:
    """Fills ``template``'s placeholders into ``dest``; a ``secret`` file (it holds a
    password) is written 0600."""
    text = template_text(template)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    if "{{" in text:
        raise RuntimeError(f"template {template} has a placeholder without a value")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if secret:
        write_secret(dest, text)
    else:
        dest.write_text(text, "utf-8")


def jvm_options(template: str, heap: str | None = None) -> list[str]:
    """The template's JVM flags; with ``heap``, its -Xms/-Xmx replaced by that size."""
    lines = (line.strip() for line in template_text(template).splitlines())
    options = [line for line in lines if line and not line.startswith("#")]
    if heap is None:
        return options
    sized = [o for o in options if not o.startswith(("-Xms", "-Xmx"))]
    return [f"-Xmx{heap}", *sized]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int, start: int = 0) -> str:
    """The last ``lines`` lines of ``path`` from byte ``start`` on ('' if none)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            # Enough bytes for the lines asked for, without reading a huge log whole.
            f.seek(max(start, size - 400 * lines))
            data = f.read()
    except OSError:
        return ""
    text = _ANSI.sub("", data.decode("utf-8", "replace"))
    return "\n".join(text.splitlines()[-lines:])


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise ServerError(
            "Kafka and Cassandra need Java 17, but there is no `java` on PATH or in "
            "$JAVA_HOME; install a JDK 17 (e.g. apt-get install openjdk-17-jdk-headless)."
        )
    return java


@lru_cache(maxsize=4)
def java_major(java: str) -> int:
    try:
        out = subprocess.run(  # noqa: S603 (java from PATH/JAVA_HOME, no shell)
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as e:
        raise ServerError(f"Could not run {java} -version: {e}.") from e
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        raise ServerError(f"Could not tell the Java version from `{java} -version`.")
    major = int(match.group(1))
    # Java 8 and older call themselves "1.8".
    return int(match.group(2) or 0) if major == 1 else major


def find_mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServerError(
            "Fetching the Kafka and Cassandra jars needs Maven, but there is no `mvn` on "
            "PATH; install Maven 3.8+ (e.g. apt-get install maven)."
        )
    return mvn


def _writable(path: Path) -> bool:
    # The nearest existing folder decides whether Maven can create the rest.
    while not path.exists():
        path = path.parent
    return os.access(path, os.W_OK)


def maven_repo_args(settings: ServersConfig) -> list[str]:
    """Use the shared ~/.m2 (jars downloaded once per machine) unless it is read-only."""
    m2 = Path.home() / ".m2" / "repository"
    if _writable(m2):
        return []
    return [f"-Dmaven.repo.local={settings.servers_dir / 'm2'}"]


class Server(ABC):
    """One local server: how to fetch, configure, start, check and stop it."""

    name: ClassVar[str]
    pom: ClassVar[str]  # template file name
    log_name: ClassVar[str]
    java_range: ClassVar[tuple[int, int | None]]  # supported majors, inclusive
    start_timeout: ClassVar[float]  # seconds
    stop_timeout: ClassVar[float]  # seconds between SIGTERM and SIGKILL
    fetched_glob: ClassVar[str] = "*.jar"  # what Maven must have copied for a good fetch

    def __init__(self, settings: ServersConfig) -> None:
        self.settings = settings
        self.home = settings.servers_dir / self.name
        self.lib = self.home / "lib"
        self.conf = self.home / "conf"
        self.data = self.home / "data"
        self.logs = self.home / "logs"
        self.log_file = self.logs / self.log_name
        self.stdout_file = self.logs / "stdout.log"
        self.pid_file = self.home / f"{self.name}.pid"
        self.marker = self.home / "lib.fetched"

    # --- what each server defines ------------------------------------------------------

    @property
    @abstractmethod
    def host(self) -> str: ...

    @property
    @abstractmethod
    def ports(self) -> list[int]:
        """Every port the server listens on; the first is the one clients use."""

    @abstractmethod
    def configure(self) -> None:
        """Write conf/ from the templates and the current settings."""

    @abstractmethod
    def command(self, java: str) -> list[str]: ...

    def prepare(self, java: str) -> None:  # noqa: B027 (optional hook, not abstract)
        """One-time work before the first start (after configure)."""

    def environment(self) -> dict[str, str]:
        """Variables added to the server's environment (a secret goes here, not argv)."""
        return {}

    def unpack(self, fetched: Path) -> None:  # noqa: B027 (optional hook, not abstract)
        """Turn what Maven copied into ``fetched`` into the server's lib/ layout."""

    @abstractmethod
    def check_ready(self, timeout: float) -> bool:
        """True once a real client request succeeds."""

    def after_ready(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """One-time work once the server answers (e.g. bootstrapping its users)."""

    # --- versions and jars ---------------------------------------------------------

    @property
    def version(self) -> str:
        match = re.search(rf"<{self.name}\.version>([^<]+)<", template_text(self.pom))
        return match.group(1) if match else "?"

    def _pom_hash(self) -> str:
        return hashlib.sha256(template_text(self.pom).encode()).hexdigest()

    @property
    def fetched(self) -> bool:
        try:
            return self.marker.read_text().strip() == self._pom_hash()
        except OSError:
            return False

    def fetch(self, *, force: bool = False) -> bool:
        """Copy the jars the POM lists into lib/; False when they were already there."""
        if self.fetched and not force:
            return False
        if self.running_pid() is not None:
            raise ServerError(f"Stop {self.name} before fetching its jars again.")
        mvn = find_mvn()
        self.home.mkdir(parents=True, exist_ok=True)
        pom = self.home / "pom.xml"
        pom.write_text(template_text(self.pom), "utf-8")
        partial = self.home / "lib.partial"
        shutil.rmtree(partial, ignore_errors=True)
        cmd = [
            mvn, "-B", "-q", *maven_repo_args(self.settings), "-f", str(pom),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ]  # fmt: skip
        try:
            out = subprocess.run(  # noqa: S603 (mvn from PATH, our own arguments)
                cmd, capture_output=True, text=True, cwd=self.home, timeout=1800, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ServerError(f"Maven could not fetch the {self.name} jars: {e}.") from e
        if out.returncode != 0 or not any(partial.glob(self.fetched_glob)):
            last = "\n".join(_ANSI.sub("", out.stdout + out.stderr).splitlines()[-20:])
            raise ServerError(
                f"Maven could not fetch the {self.name} {self.version} jars "
                f"(exit {out.returncode}); is Maven Central reachable?\n{last}"
            )
        self.unpack(partial)
        # Swap in whole, so an interrupted fetch never leaves a half lib/ marked good.
        self.marker.unlink(missing_ok=True)
        shutil.rmtree(self.lib, ignore_errors=True)
        partial.rename(self.lib)
        self.marker.write_text(self._pom_hash() + "\n")
        return True

    def check_java(self, java: str) -> None:
        major = java_major(java)
        low, high = self.java_range
        if major < low or (high is not None and major > high):
            wanted = f"{low}" if high == low else f"{low}+" if high is None else f"{low}-{high}"
            raise ServerError(
                f"{self.name} {self.version} needs Java {wanted}, but {java} is Java "
                f"{major}; set JAVA_HOME to a JDK 17."
            )

    # --- the process -----------------------------------------------------------------

    @property
    def tag(self) -> str:
        """A JVM flag that marks the process as this server (checked via /proc)."""
        return f"-Dlprx.server={self.home}"

    def _is_ours(self, pid: int) -> bool:
        proc = Path("/proc")
        if proc.is_dir():
            # A recycled pid runs some other command line; a zombie has none.
            try:
                args = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
            except OSError:
                return False
            return self.tag.encode() in args
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_ours(pid) else None

    def busy_ports(self) -> list[int]:
        return [p for p in self.ports if port_open(self.host, p)]

    def start(self, java: str) -> tuple[int, int]:
        """Start detached; returns the pid and the server log's size before the start."""
        for folder in (self.conf, self.data, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.configure()
        self.prepare(java)
        if self.stdout_file.exists():
            self.stdout_file.replace(self.stdout_file.with_name("stdout.log.1"))
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        cmd = [sys.executable, "-I", "-c", _LAUNCHER, str(self.stdout_file), *self.command(java)]
        try:
            out = subprocess.run(  # noqa: S603 (our own interpreter and command)
                cmd,
                capture_output=True,
                text=True,
                cwd=self.home,
                timeout=60,
                check=True,
                env={**os.environ, **self.environment()},
            )
            pid = int(out.stdout.strip())
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            raise ServerError(f"Could not launch {self.name}: {e}.") from e
        self.pid_file.write_text(f"{pid}\n")
        return pid, log_offset

    def last_lines(self, log_offset: int = 0, lines: int = 25) -> str:
        parts = []
        log = tail(self.log_file, lines, log_offset)
        if log:
            parts.append(f"--- {self.log_file} ---\n{log}")
        out = tail(self.stdout_file, lines)
        if out:
            parts.append(f"--- {self.stdout_file} ---\n{out}")
        return "\n".join(parts) or "(the logs are empty)"

    def signal(self, pid: int, sig: signal.Signals) -> None:
        try:
            # The JVM leads its own process group (start_new_session): signal the group.
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError as e:
            raise ServerError(f"Not allowed to stop {self.name} (pid {pid}): {e}.") from e

    def wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._is_ours(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def status(self) -> ServerStatus:
        pid = self.running_pid()
        is_open = port_open(self.host, self.ports[0])
        return ServerStatus(
            name=self.name,
            version=self.version,
            pid=pid,
            port=self.ports[0],
            port_open=is_open,
            ready=is_open and self.check_ready(timeout=5.0),
            log=self.log_file,
        )
