"""A single-node Cassandra 5.0, one JVM."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from connectors.servers.base import Server, ServerError, jvm_options, render


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

    def configure(self) -> None:
        render(
            "cassandra.yaml",
            self.conf / "cassandra.yaml",
            {
                "host": self.host,
                "port": self.ports[0],
                "storage_port": self.ports[1],
                "data_dir": self.data,
            },
        )
        render(
            "logback.xml",
            self.conf / "logback.xml",
            {"log_file": self.log_file, "log_dir": self.logs},
        )

    def prepare(self, java: str) -> None:
        (self.data / "triggers").mkdir(parents=True, exist_ok=True)

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
            f"-Dcassandra.triggers_dir={self.data / 'triggers'}",
            f"-Dlogback.configurationFile={self.conf / 'logback.xml'}",
            "-cp",
            f"{self.conf}:{self.lib / '*'}",
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def check_ready(self, timeout: float) -> bool:
        # Imported here: the driver is slow to import and only needed when checking.
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import WhiteListRoundRobinPolicy

        profile = ExecutionProfile(
            load_balancing_policy=WhiteListRoundRobinPolicy([self.host]),
            request_timeout=timeout,
        )
        cluster = Cluster(
            [self.host],
            port=self.ports[0],
            connect_timeout=timeout,
            control_connection_timeout=timeout,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        )
        with _driver_quiet():
            try:
                session = cluster.connect()
                row = session.execute("SELECT release_version FROM system.local").one()
                return row is not None
            # The driver raises many unrelated types (NoHostAvailable, OperationTimedOut,
            # ConnectionException, OSError...): any of them means "not ready yet".
            except Exception:
                return False
            finally:
                cluster.shutdown()
