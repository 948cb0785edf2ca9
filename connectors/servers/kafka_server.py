"""A single-node Kafka 4 broker in KRaft mode (no ZooKeeper), one JVM, secured.

Clients log in with SASL/SCRAM-SHA-512 over TLS; the controller listener takes only the
broker's own CA-signed certificate; the StandardAuthorizer denies what no ACL allows.
On first start lprx makes the CA and the broker's keystore (connectors/security/pki.py),
generates the passwords of the broker and of ``lprx-admin`` (0600 files in the cache)
and formats the storage with both SCRAM users (kafka-storage --add-scram, arguments
read from a file so no password is ever in argv).
"""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from connectors.kafka.acls import ADMIN, BROKER
from connectors.kafka.security import as_principal, password_file
from connectors.kafka.topics import base_config
from connectors.security.files import ensure_password, write_secret
from connectors.security.pki import ensure_ca, ensure_keystore
from connectors.servers.base import Server, ServerError, jvm_options, render, template_text

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

    @property
    def keystore(self) -> Path:
        return self.settings.tls_dir / "kafka-broker.pem"

    def configure(self) -> None:
        ca = ensure_ca(self.settings.tls_dir)
        ensure_keystore(ca, self.keystore, BROKER, [self.host])
        ensure_password(password_file(self.settings, ADMIN))
        render(
            "kafka-server.properties",
            self.conf / "server.properties",
            {
                "host": self.host,
                "port": self.ports[0],
                "controller_port": self.ports[1],
                "data_dir": self.data,
                "keystore": self.keystore,
                "truststore": ca.cert_file,
                "broker_principal": BROKER,
                "broker_password": self._password(BROKER).get_secret_value(),
                "super_users": f"User:{BROKER};User:{ADMIN}",
            },
            secret=True,
        )
        render(
            "kafka-log4j2.xml",
            self.conf / "log4j2.xml",
            {"log_file": self.log_file, "log_dir": self.logs},
        )

    def prepare(self, java: str) -> None:
        # A KRaft broker refuses to start on unformatted storage ("No readable
        # meta.properties files found"); format once, never again (it holds the ids).
        marker = self.data / "scram-users.bootstrapped"
        if (self.data / "meta.properties").exists():
            if not marker.exists():
                raise ServerError(
                    f"The Kafka storage in {self.data} was formatted without SCRAM users "
                    "(before lprx secured Kafka); stop Kafka and remove that folder to "
                    "format it again (its topics are lost)."
                )
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        args = ["format", "-t", cluster_id, "-c", self.properties, "--ignore-formatted"]
        for user in (BROKER, ADMIN):
            secret = self._password(user).get_secret_value()
            args += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={secret}]"]
        args_file = write_secret(self.conf / "format.args", "\n".join(args) + "\n")
        launcher = self.conf / "KafkaFormat.java"
        launcher.write_text(template_text("KafkaFormat.java"), "utf-8")
        cmd = [
            java, "-Xmx256m", self._log_config, "-cp", str(self.lib / "*"),
            str(launcher), str(args_file),
        ]  # fmt: skip
        try:
            out = subprocess.run(  # noqa: S603 (our own java and paths, no shell)
                cmd, capture_output=True, text=True, timeout=120, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ServerError(f"Could not format the Kafka storage: {e}.") from e
        finally:
            args_file.unlink(missing_ok=True)
        if out.returncode != 0:
            last = "\n".join((out.stdout + out.stderr).splitlines()[-20:])
            raise ServerError(f"Formatting the Kafka storage failed:\n{last}")
        marker.write_text(f"{BROKER}\n{ADMIN}\n")

    def _password(self, principal: str) -> SecretStr:
        return ensure_password(password_file(self.settings, principal))

    def command(self, java: str) -> list[str]:
        return [
            java,
            *jvm_options("kafka-jvm.options", self.settings.kafka_heap),
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
            **base_config(as_principal(self.settings, ADMIN)),
            "socket.connection.setup.timeout.ms": int(timeout * 1000),
            "logger": _quiet,
            "error_cb": lambda _err: None,
        }
        admin = AdminClient(config)
        try:
            return bool(admin.list_topics(timeout=timeout).brokers)
        except KafkaException:
            return False
