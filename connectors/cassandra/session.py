"""Connecting to Cassandra, and the one place where driver errors become ours.

Every call that touches the driver runs inside :func:`map_exceptions`, and every failed row
of a concurrent write goes through :func:`store_error`, so callers only ever see the tree
of ``schemas.errors``:

- :class:`~schemas.errors.StoreUnavailable` (transient: retry, back off): no host
  answered, too few replicas were alive, a read or write timed out on the server or in
  the driver, a replica failed, the coordinator was overloaded or still bootstrapping, a
  connection broke or was busy;
- :class:`StoreRejected` (permanent: retrying cannot help): Cassandra refused the
  statement itself, for a syntax error, a missing keyspace or table, a value of the wrong
  type, a user without the permission.

An exception that is not the driver's (a bug of ours) passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cassandra import (
    CDCWriteFailure,
    CoordinationFailure,
    DriverException,
    FunctionFailure,
    OperationTimedOut,
    ProtocolVersion,
    RequestValidationException,
    Timeout,
    Unavailable,
    UnsupportedOperation,
)
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.connection import ConnectionBusy, ConnectionException
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.pool import NoConnectionsAvailable
from cassandra.protocol import (
    IsBootstrappingErrorMessage,
    OverloadedErrorMessage,
    ProtocolException,
    ServerError,
    TruncateError,
)
from cassandra.protocol import RequestValidationException as RequestValidationMessage
from cassandra.query import dict_factory, named_tuple_factory, tuple_factory

from connectors.cassandra import security
from connectors.cassandra.config import CassandraConfig
from schemas.errors import (
    ConfigurationError,
    LprxError,
    StoreRejected,
    StoreUnavailable,
)

# Execution profiles of the sessions ``connect`` opens. The default keeps the driver's
# named tuples for anyone holding ``store.session``; the store maps rows from plain tuples
# (no named tuple class built per result page) and lists rows for the CLI as dicts.
TUPLE_ROWS = "lprx-tuple-rows"
DICT_ROWS = "lprx-dict-rows"


# First match wins: the server's refusals of a statement before the general driver error.
_PERMANENT: tuple[type[BaseException], ...] = (
    RequestValidationException,  # InvalidRequest, Unauthorized, ConfigurationException
    RequestValidationMessage,  # SyntaxException, raised as the protocol message itself
    FunctionFailure,
    ProtocolException,
    UnsupportedOperation,
)
_TRANSIENT: tuple[type[BaseException], ...] = (
    NoHostAvailable,
    Unavailable,
    Timeout,  # ReadTimeout, WriteTimeout
    OperationTimedOut,
    CoordinationFailure,  # ReadFailure, WriteFailure
    CDCWriteFailure,
    OverloadedErrorMessage,
    IsBootstrappingErrorMessage,
    TruncateError,
    ServerError,
    ConnectionException,  # ConnectionShutdown too
    ConnectionBusy,
    NoConnectionsAvailable,
    OSError,  # sockets
    DriverException,  # any other failure of the driver's, as this store always treated it
)


def store_error(error: BaseException, doing: str) -> LprxError | None:
    """Our error for a driver error met while ``doing`` something; None for any other."""
    if isinstance(error, _PERMANENT):
        return StoreRejected(f"Cassandra refused the {doing}: {type(error).__name__}: {error}")
    if isinstance(error, _TRANSIENT):
        return StoreUnavailable(f"Cassandra {doing} failed: {type(error).__name__}: {error}")
    return None


@contextmanager
def map_exceptions(doing: str) -> Iterator[None]:
    """Raises a driver error from the block as ours (:func:`store_error`), chained."""
    try:
        yield
    except Exception as error:
        mapped = store_error(error, doing)
        if mapped is None:
            raise
        raise mapped from error


def answers(session: Session, timeout: float) -> str | None:
    """None when Cassandra answers a trivial query within ``timeout``; else why not (one
    line, for a readiness probe)."""
    try:
        session.execute("SELECT release_version FROM system.local", timeout=timeout)
    except Exception as error:  # whatever the driver raises, the answer is "not ready"
        return f"does not answer: {type(error).__name__}"
    return None


def _profile(row_factory: Callable[..., Any]) -> ExecutionProfile:
    return ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()), row_factory=row_factory
    )


def connect(settings: CassandraConfig) -> tuple[Cluster, Session]:
    """A cluster and session for ``settings``. A Cassandra that cannot be reached at start
    is the operator's to fix, so it is a ConfigurationError, saying what to try."""
    where = f"Cassandra at {settings.cassandra_contact_points}:{settings.cassandra_port}"
    try:
        with map_exceptions("connection"):
            cluster = Cluster(
                settings.cassandra_contact_points,
                port=settings.cassandra_port,
                auth_provider=security.auth_provider(settings),
                ssl_context=security.ssl_context(settings),
                protocol_version=ProtocolVersion.V5,
                execution_profiles={
                    EXEC_PROFILE_DEFAULT: _profile(named_tuple_factory),
                    TUPLE_ROWS: _profile(tuple_factory),
                    DICT_ROWS: _profile(dict_factory),
                },
            )
    except StoreUnavailable as error:  # contact points that name no host
        raise ConfigurationError(f"{where}: {error}") from error
    try:
        with map_exceptions("connection"):
            return cluster, cluster.connect()
    except StoreUnavailable as error:
        cluster.shutdown()
        raise ConfigurationError(
            f"{where} did not answer, or did not let {settings.cassandra_username} in "
            f"({error}); is it running? Try `lprx services up`."
        ) from error
    except BaseException:
        cluster.shutdown()
        raise
