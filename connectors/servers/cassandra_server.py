"""A single-node Cassandra 5.0, one JVM, secured.

Clients log in with a role (PasswordAuthenticator, CassandraAuthorizer) over TLS only;
the storage port speaks TLS with CA-signed certificates both ways. On first start lprx
makes the node's PEM keystore from the lprx CA, compiles the audit table's append-only
trigger (templates/AppendOnly.java) into the triggers folder, and once the node answers
creates the superuser ``lprx_admin`` and gives the default ``cassandra`` superuser a
generated password (both in 0600 files under ``<cache_dir>/secrets/cassandra/``).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.cassandra.roles import ensure_login_role
from connectors.cassandra.security import ADMIN_ROLE, DEFAULT_SUPERUSER, password_file
from connectors.security.files import ensure_password, read_secret, write_secret
from connectors.security.pki import ensure_ca, ensure_keystore
from connectors.servers.base import Server, ServerError, jvm_options, render, template_text

if TYPE_CHECKING:
    from cassandra.cluster import Cluster, Session

TRIGGER_SOURCE = "AppendOnly.java"
TRIGGER_JAR = "lprx-triggers.jar"


@contextmanager
def _driver_quiet() -> Iterator[None]:
    # While Cassandra starts the driver logs every refused connection as a warning.
    log = logging.getLogger("cassandra")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


class CassandraServer(Server):
    name = "cassandra"
    pom = "cassandra-pom.xml"
    log_name = "system.log"
    java_range = (11, 17)  # Cassandra 5.0 supports Java 11 and 17 only
    start_timeout = 180.0  # 2 cores: the first start (system keyspaces) is slow
    stop_timeout = 60.0  # the shutdown hook drains memtables

    @property
    def host(self) -> str:
        return self.settings.cassandra_contact_points[0]

    @property
    def ports(self) -> list[int]:
        return [self.settings.cassandra_port, self.settings.cassandra_storage_port]

    @property
    def keystore(self) -> Path:
        return self.settings.tls_dir / "cassandra-node.pem"

    @property
    def triggers(self) -> Path:
        return self.data / "triggers"

    def configure(self) -> None:
        ca = ensure_ca(self.settings.tls_dir)
        ensure_keystore(ca, self.keystore, "lprx-cassandra", [self.host])
        render(
            "cassandra.yaml",
            self.conf / "cassandra.yaml",
            {
                "host": self.host,
                "port": self.ports[0],
                "storage_port": self.ports[1],
                "data_dir": self.data,
                "keystore": self.keystore,
                "truststore": ca.cert_file,
            },
        )
        render(
            "logback.xml",
            self.conf / "logback.xml",
            {"log_file": self.log_file, "log_dir": self.logs},
        )

    def prepare(self, java: str) -> None:
        self.triggers.mkdir(parents=True, exist_ok=True)
        self._build_trigger(java)

    def _build_trigger(self, java: str) -> None:
        """Compiles the append-only trigger into the triggers folder (again only when its
        source or the Cassandra jars change); Cassandra loads it at start."""
        source = template_text(TRIGGER_SOURCE)
        jars = sorted(p.name for p in self.lib.glob("*.jar"))
        stamp = hashlib.sha256("\n".join([source, *jars]).encode()).hexdigest()
        jar, stamp_file = self.triggers / TRIGGER_JAR, self.home / "trigger.built"
        if jar.exists() and stamp_file.exists() and stamp_file.read_text().strip() == stamp:
            return
        javac = Path(java).with_name("javac")
        if not javac.exists():
            found = shutil.which("javac")
            if found is None:
                raise ServerError(
                    "Building Cassandra's audit trigger needs a JDK 17 (javac), but there is "
                    "none next to java or on PATH; install openjdk-17-jdk-headless."
                )
            javac = Path(found)
        build = self.home / "trigger-build"
        shutil.rmtree(build, ignore_errors=True)
        (build / "src").mkdir(parents=True)
        (build / "src" / TRIGGER_SOURCE).write_text(source, "utf-8")
        cmd = [str(javac), "-nowarn", "-cp", str(self.lib / "*"), "-d", str(build / "classes"),
               str(build / "src" / TRIGGER_SOURCE)]  # fmt: skip
        try:
            out = subprocess.run(  # noqa: S603 (the JDK's javac, our own source)
                cmd, capture_output=True, text=True, timeout=300, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ServerError(f"Could not compile the Cassandra audit trigger: {e}.") from e
        if out.returncode != 0:
            raise ServerError(f"Compiling the Cassandra audit trigger failed:\n{out.stderr}")
        partial = jar.with_suffix(".partial")
        with zipfile.ZipFile(partial, "w") as archive:
            for cls in sorted((build / "classes").rglob("*.class")):
                archive.write(cls, cls.relative_to(build / "classes").as_posix())
        partial.replace(jar)
        stamp_file.write_text(stamp + "\n")
        shutil.rmtree(build, ignore_errors=True)

    def command(self, java: str) -> list[str]:
        # Cassandra measures object sizes with the jamm agent; it must be loaded
        # as an agent, being on the classpath is not enough.
        jamm = sorted(self.lib.glob("jamm-*.jar"))
        if not jamm:
            raise ServerError(f"No jamm agent jar in {self.lib}; run `fetch --force`.")
        return [
            java,
            *jvm_options("cassandra-jvm.options", self.settings.cassandra_heap),
            f"-javaagent:{jamm[-1]}",
            self.tag,
            f"-XX:ErrorFile={self.logs / 'hs_err_pid%p.log'}",
            f"-Dcassandra.config={(self.conf / 'cassandra.yaml').as_uri()}",
            f"-Dcassandra.logdir={self.logs}",
            f"-Dcassandra.storagedir={self.data}",
            # An (empty) triggers folder, else a warning at every start.
            f"-Dcassandra.triggers_dir={self.triggers}",
            f"-Dlogback.configurationFile={self.conf / 'logback.xml'}",
            "-cp",
            f"{self.conf}:{self.lib / '*'}",
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    # --- logging in: lprx_admin once bootstrapped, the default superuser before ---------

    def _superusers(self) -> list[tuple[str, str]]:
        logins = []
        for role in (ADMIN_ROLE, DEFAULT_SUPERUSER):
            file = password_file(self.settings, role)
            if file.exists():
                logins.append((role, read_secret(file).get_secret_value()))
        # Cassandra's default superuser, until the bootstrap gave it a password of its own.
        if not self._bootstrapped.exists():
            logins.append((DEFAULT_SUPERUSER, DEFAULT_SUPERUSER))
        return logins

    @property
    def _bootstrapped(self) -> Path:
        return self.data / "roles.bootstrapped"

    def _cluster(self, user: str, secret: str, timeout: float) -> Cluster:
        # Imported here: the driver is slow to import and only needed when checking.
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import WhiteListRoundRobinPolicy

        from connectors.cassandra.security import ssl_context

        profile = ExecutionProfile(
            load_balancing_policy=WhiteListRoundRobinPolicy([self.host]),
            request_timeout=timeout,
        )
        return Cluster(
            [self.host],
            port=self.ports[0],
            auth_provider=PlainTextAuthProvider(user, secret),
            ssl_context=ssl_context(self.settings),
            connect_timeout=timeout,
            control_connection_timeout=timeout,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        )

    @contextmanager
    def superuser_session(self, timeout: float) -> Iterator[tuple[str, Session] | None]:
        """A session as the first superuser that logs in (None: none did, yet)."""
        for user, secret in self._superusers():
            cluster = self._cluster(user, secret, timeout)
            with _driver_quiet():
                try:
                    session = cluster.connect()
                    session.execute("SELECT release_version FROM system.local").one()
                # The driver raises many unrelated types (NoHostAvailable,
                # OperationTimedOut, ConnectionException, OSError...): not this login.
                except Exception:
                    cluster.shutdown()
                    continue
            try:
                yield user, session
            finally:
                cluster.shutdown()
            return
        yield None

    def check_ready(self, timeout: float) -> bool:
        with self.superuser_session(timeout) as login:
            return login is not None

    def after_ready(self) -> None:
        """Bootstraps the roles once: ``lprx_admin`` (superuser) and a generated password
        for the default ``cassandra`` superuser, which lprx does not use afterwards."""
        if self._bootstrapped.exists():
            return
        with self.superuser_session(30.0) as login:
            if login is None:
                raise ServerError("Cassandra answers but no superuser login works.")
            _user, session = login
            ensure_login_role(session, self.settings, ADMIN_ROLE, superuser=True)
            # Written before it is set, so a crash in between leaves it recoverable.
            secret = ensure_password(password_file(self.settings, DEFAULT_SUPERUSER))
            session.execute(
                f"ALTER ROLE {DEFAULT_SUPERUSER} WITH PASSWORD = '{secret.get_secret_value()}'"
            )
        write_secret(self._bootstrapped, f"{ADMIN_ROLE}\n")
