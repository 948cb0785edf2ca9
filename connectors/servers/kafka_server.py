"""A single-node Kafka 4 broker in KRaft mode (no ZooKeeper), one JVM."""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from connectors.servers.base import Server, ServerError, jvm_options, render

# librdkafka reports every refused connection while the broker is still starting;
# readiness polling must not print them.
_quiet = logging.getLogger("connectors.servers.rdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class KafkaServer(Server):
    name = "kafka"
    pom = "kafka-pom.xml"
    log_name = "server.log"
    java_range = (17, None)  # Kafka 4 brokers need Java 17+
    start_timeout = 90.0
    stop_timeout = 30.0

    @property
    def _bootstrap(self) -> tuple[str, int]:
        first = self.settings.kafka_bootstrap_servers.split(",")[0].strip()
        host, _, port = first.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    @property
    def host(self) -> str:
        return self._bootstrap[0]

    @property
    def ports(self) -> list[int]:
        return [self._bootstrap[1], self.settings.kafka_controller_port]

    @property
    def properties(self) -> str:
        return str(self.conf / "server.properties")

    @property
    def _log_config(self) -> str:
        return f"-Dlog4j2.configurationFile={self.conf / 'log4j2.xml'}"

    def configure(self) -> None:
        render(
            "kafka-server.properties",
            self.conf / "server.properties",
            {
                "host": self.host,
                "port": self.ports[0],
                "controller_port": self.ports[1],
                "data_dir": self.data,
            },
        )
        render(
            "kafka-log4j2.xml",
            self.conf / "log4j2.xml",
            {"log_file": self.log_file, "log_dir": self.logs},
        )

    def prepare(self, java: str) -> None:
        # A KRaft broker refuses to start on unformatted storage ("No readable
        # meta.properties files found"); format once, never again (it holds the ids).
        if (self.data / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        cmd = [
            java, "-Xmx256m", self._log_config, "-cp", str(self.lib / "*"),
            "kafka.tools.StorageTool", "format", "-t", cluster_id,
            "-c", self.properties, "--ignore-formatted",
        ]  # fmt: skip
        try:
            out = subprocess.run(  # noqa: S603 (our own java and paths, no shell)
                cmd, capture_output=True, text=True, timeout=120, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ServerError(f"Could not format the Kafka storage: {e}.") from e
        if out.returncode != 0:
            last = "\n".join((out.stdout + out.stderr).splitlines()[-20:])
            raise ServerError(f"Formatting the Kafka storage failed:\n{last}")

    def command(self, java: str) -> list[str]:
        return [
            java,
            *jvm_options("kafka-jvm.options"),
            self.tag,
            f"-XX:ErrorFile={self.logs / 'hs_err_pid%p.log'}",
            self._log_config,
            f"-Dkafka.logs.dir={self.logs}",
            "-cp",
            str(self.lib / "*"),
            "kafka.Kafka",
            self.properties,
        ]

    def check_ready(self, timeout: float) -> bool:
        config: dict[str, Any] = {  # the stub types values as scalars only
            "bootstrap.servers": f"{self.host}:{self.ports[0]}",
            "socket.connection.setup.timeout.ms": int(timeout * 1000),
            "logger": _quiet,
            "error_cb": lambda _err: None,
        }
        admin = AdminClient(config)
        try:
            return bool(admin.list_topics(timeout=timeout).brokers)
        except KafkaException:
            return False
