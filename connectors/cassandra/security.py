"""How an lprx process logs in to Cassandra: TLS that trusts the lprx CA only, and a
role with its password read from its 0600 file.

Roles (created by the server bootstrap and ``lprx setup``, connectors/cassandra/roles.py):
``lprx_admin`` owns the schema (a superuser: only superusers may create the audit
table's trigger); ``lprx_writer`` is the workers' (rows in, no schema changes, audit rows
only inserted); ``lprx_reader`` is the look-ups' (reads, plus inserting the audit rows of
its own accesses); ``lprx_custodian`` the holds' (it rewrites the TTLs of held reads);
``lprx_checkpoint`` the audit checkpoint signer's (chain heads in, checkpoints out).
The default ``cassandra`` superuser gets a generated password at the
first start and no lprx process uses it afterwards.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TypeVar

from cassandra.auth import PlainTextAuthProvider
from pydantic import SecretStr

from connectors.cassandra.config import CassandraConfig
from connectors.security.files import read_secret
from schemas.errors import ConfigurationError

C = TypeVar("C", bound=CassandraConfig)

ADMIN_ROLE = "lprx_admin"
WRITER_ROLE = "lprx_writer"
READER_ROLE = "lprx_reader"
API_ROLE = "lprx_api"
CUSTODIAN_ROLE = "lprx_custodian"
CHECKPOINT_ROLE = "lprx_checkpoint"
DEFAULT_SUPERUSER = "cassandra"  # Cassandra's own, password "cassandra" until bootstrap


def password_file(config: CassandraConfig, role: str) -> Path:
    return config.secrets_dir / "cassandra" / f"{role}.password"


def as_cassandra_role(config: C, role: str) -> C:
    """``config`` logging in as ``role``, unless it already names one."""
    if config.cassandra_username:
        return config
    return config.model_copy(update={"cassandra_username": role})


def password(config: CassandraConfig) -> SecretStr:
    if config.cassandra_password is not None:
        return config.cassandra_password
    if not config.cassandra_username:
        raise ConfigurationError("no Cassandra role: set LPRX_CASSANDRA_USERNAME")
    return read_secret(
        config.cassandra_password_file or password_file(config, config.cassandra_username)
    )


def auth_provider(config: CassandraConfig) -> PlainTextAuthProvider | None:
    """The role's login (SASL PLAIN inside the TLS session); None without a role."""
    if not config.cassandra_username:
        return None
    return PlainTextAuthProvider(config.cassandra_username, password(config).get_secret_value())


def ssl_context(config: CassandraConfig) -> ssl.SSLContext | None:
    """Client TLS trusting the lprx CA only; the driver checks the node's address."""
    if not config.cassandra_tls:
        return None
    ca = config.cassandra_ca_file or config.default_ca_file
    if not ca.is_file():
        raise ConfigurationError(
            f"no CA certificate at {ca}; run `lprx services up` or set LPRX_CASSANDRA_CA_FILE"
        )
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
