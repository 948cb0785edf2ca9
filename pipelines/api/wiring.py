"""The API's services in a running process: the store, the accounts, the audit trail,
the agreements followed from their compacted topic, and the TLS certificate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.security.files import read_secret
from pipelines.api.deps import ApiServices
from pipelines.settings import Settings
from schemas.errors import ConfigurationError

if TYPE_CHECKING:
    from connectors.cassandra import CassandraStore
    from pipelines.identity.accounts import IdentityService


READY_TIMEOUT_S = 2.0
"""How long ``/readyz`` waits for Kafka and for Cassandra (under the probe's timeout)."""


def tls_files(settings: Settings) -> tuple[Path, Path | None]:
    """The certificate chain the API serves and its key file (None: in the same PEM):
    the files the settings name (a certificate from your own CA, mounted from a Secret),
    else a key and chain signed by the lprx CA, made on first use."""
    from connectors.security.pki import ensure_ca, ensure_keystore

    cert, key = settings.api_tls_cert_file, settings.api_tls_key_file
    if cert is not None or key is not None:
        if cert is None or key is None:
            raise ConfigurationError("set both LPRX_API_TLS_CERT_FILE and LPRX_API_TLS_KEY_FILE")
        for path in (cert, key):
            if not path.is_file():
                raise ConfigurationError(f"API TLS file {path} is missing")
        read_secret(key)  # refuses a private key that others can read
        return cert, key
    ca = ensure_ca(settings.tls_dir)
    pem = ensure_keystore(ca, settings.tls_dir / "api.pem", "lprx-api", [settings.api_host])
    return pem, None


def totp_key_file(settings: Settings) -> Path:
    return settings.secrets_dir / "api" / "totp.key"


def api_url(settings: Settings) -> str:
    scheme = "https" if settings.api_tls else "http"
    return settings.api_url or f"{scheme}://127.0.0.1:{settings.api_port}"


@contextmanager
def identity_service(settings: Settings) -> Iterator[tuple[CassandraStore, IdentityService]]:
    """The identity service on the store (for the API and ``lprx people bootstrap``)."""
    from connectors.cassandra import CassandraStore
    from connectors.cassandra.identity import CassandraAccounts
    from pipelines.identity.accounts import IdentityService, TotpSealer

    with CassandraStore(settings, create_schema=False) as store:
        accounts = CassandraAccounts(store.session, store.keyspace)
        yield store, IdentityService(accounts, TotpSealer(totp_key_file(settings)), settings)


@contextmanager
def custodian_store(settings: Settings) -> Iterator[CassandraStore]:
    """The holds' own session, as the custodian's Cassandra role: placing or releasing a
    hold rewrites the TTL of every copy of a read, which the API's role (SELECT on the
    data) may not. Only the hold routes use it, after the supervisor's role is checked."""
    from connectors.cassandra import CassandraStore
    from pipelines.access import CASSANDRA_ROLES, Role

    custodian = settings.model_copy(update={"cassandra_username": CASSANDRA_ROLES[Role.CUSTODIAN]})
    with CassandraStore(custodian, create_schema=False) as store:
        yield store


@contextmanager
def running_services(settings: Settings) -> Iterator[ApiServices]:
    from connectors.cassandra.audit_queries import AuditChainQueries
    from connectors.cassandra.cameras import CameraRegistry
    from connectors.cassandra.holds import HoldStore
    from connectors.cassandra.session import answers
    from connectors.kafka.audit import AuditTrail
    from connectors.kafka.follower import CompactedTopicFollower
    from pipelines.identity.auth import Authenticator, external_verifier
    from pipelines.stages.share import AgreementBook
    from schemas import codec_for
    from schemas.records import SharingAgreement

    codec = codec_for(settings.schema_registry_url)
    book = AgreementBook()
    follower = CompactedTopicFollower(
        settings, settings.topic("agreements"), lambda b: SharingAgreement.decode(codec, b),
        book.apply, book.remove,
    )  # fmt: skip
    follower.start()
    follower.wait_caught_up(30)
    trail = AuditTrail(settings, "lprx-api")
    try:
        with identity_service(settings) as (store, identity), custodian_store(settings) as kept:
            auth = Authenticator(identity, external_verifier(settings))

            def readiness() -> list[str]:
                problems = [] if follower.caught_up else ["agreements: not caught up"]
                if (kafka := trail.reachable(READY_TIMEOUT_S)) is not None:
                    problems.append(f"kafka: {kafka}")
                if (cassandra := answers(store.session, READY_TIMEOUT_S)) is not None:
                    problems.append(f"cassandra: {cassandra}")
                return problems

            yield ApiServices(
                settings, auth, trail, book, store,
                holds=HoldStore(kept.session, kept.keyspace),
                chain=AuditChainQueries(store.session, store.keyspace), usage=store.usage,
                cameras=CameraRegistry(store.session, store.keyspace), readiness=readiness,
            )  # fmt: skip
    finally:
        follower.stop()
        trail.flush(10)
