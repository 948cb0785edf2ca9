"""The one place that says how an lprx process logs in to Kafka.

Every client (confluent-kafka producers, consumers and admin clients, the compacted-topic
followers, the sink, Faust through aiokafka) gets its security settings from here:
SASL/SCRAM-SHA-512 over TLS, the principal named by the settings, its password read from
its 0600 file, and the lprx CA as the only trusted issuer.

    client_config(config)        -> librdkafka properties (security.protocol, sasl.*, ssl.*)
    faust_credentials(config)    -> faust.SASLCredentials for ``broker_credentials``
    as_principal(config, name)   -> the settings with a default principal filled in
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import SecretStr

from connectors.kafka.config import KafkaConfig
from connectors.security.files import read_secret
from schemas.errors import ConfigurationError

if TYPE_CHECKING:
    import faust

C = TypeVar("C", bound=KafkaConfig)

SASL_MECHANISM = "SCRAM-SHA-512"


def password_file(config: KafkaConfig, principal: str) -> Path:
    """Where a principal's password lives in the cache (setup writes it there)."""
    return config.secrets_dir / "kafka" / f"{principal}.password"


def as_principal(config: C, principal: str) -> C:
    """``config`` logging in as ``principal``, unless it already names a principal."""
    if config.kafka_principal:
        return config
    return config.model_copy(update={"kafka_principal": principal})


def principal(config: KafkaConfig) -> str:
    if not config.kafka_principal:
        raise ConfigurationError(
            "no Kafka principal: set LPRX_KAFKA_PRINCIPAL (and LPRX_KAFKA_PASSWORD_FILE)"
        )
    return config.kafka_principal


def password(config: KafkaConfig) -> SecretStr:
    if config.kafka_password is not None:
        return config.kafka_password
    return read_secret(config.kafka_password_file or password_file(config, principal(config)))


def ca_file(config: KafkaConfig) -> Path:
    path = config.kafka_ca_file or config.default_ca_file
    if not path.is_file():
        raise ConfigurationError(
            f"no CA certificate at {path}; run `lprx services up` or set LPRX_KAFKA_CA_FILE"
        )
    return path


def client_config(config: KafkaConfig) -> dict[str, str]:
    """librdkafka security properties for ``config``'s principal (merge into a client's)."""
    if config.kafka_security_protocol == "PLAINTEXT":
        return {"security.protocol": "PLAINTEXT"}
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": SASL_MECHANISM,
        "sasl.username": principal(config),
        "sasl.password": password(config).get_secret_value(),
        "ssl.ca.location": str(ca_file(config)),
        # librdkafka checks the broker's certificate and its host name by default; said
        # here so no copy of this config can lose it.
        "enable.ssl.certificate.verification": "true",
        "ssl.endpoint.identification.algorithm": "https",
    }


def ssl_context(config: KafkaConfig) -> ssl.SSLContext:
    """A client TLS context that trusts the lprx CA only and checks host names."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file(config)))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def faust_credentials(config: KafkaConfig) -> faust.SASLCredentials | None:
    """``broker_credentials`` for a Faust app (aiokafka): SCRAM-SHA-512 over TLS."""
    import faust

    if config.kafka_security_protocol == "PLAINTEXT":
        return None
    return faust.SASLCredentials(
        username=principal(config),
        password=password(config).get_secret_value(),
        ssl_context=ssl_context(config),
        mechanism=SASL_MECHANISM,
    )


def properties_file_text(config: KafkaConfig) -> str:
    """A ready librdkafka properties file for ``config``'s principal (holds its password:
    write it 0600)."""
    lines = [f"bootstrap.servers={config.kafka_bootstrap_servers}"]
    lines += [f"{key}={value}" for key, value in client_config(config).items()]
    return "\n".join(lines) + "\n"
