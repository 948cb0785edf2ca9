"""The API's services in a running process: the store, the accounts, the audit trail,
the agreements followed from their compacted topic, and the TLS certificate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.api.deps import ApiServices
from pipelines.settings import Settings

if TYPE_CHECKING:
    from connectors.cassandra import CassandraStore
    from pipelines.identity.accounts import IdentityService


def tls_files(settings: Settings) -> Path:
    """The API's key and certificate chain (one PEM), signed by the lprx CA."""
    from connectors.security.pki import ensure_ca, ensure_keystore

    ca = ensure_ca(settings.tls_dir)
    return ensure_keystore(ca, settings.tls_dir / "api.pem", "lprx-api", [settings.api_host])


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
        lambda _key, agreement: book.put(agreement), book.revoke,
    )  # fmt: skip
    follower.start()
    follower.wait_caught_up(30)
    trail = AuditTrail(settings, "lprx-api")
    try:
        with identity_service(settings) as (store, identity), custodian_store(settings) as kept:
            auth = Authenticator(identity, external_verifier(settings))
            yield ApiServices(
                settings, auth, trail, book, store,
                holds=HoldStore(kept.session, kept.keyspace),
                chain=AuditChainQueries(store.session, store.keyspace), usage=store.usage,
                cameras=CameraRegistry(store.session, store.keyspace),
            )  # fmt: skip
    finally:
        follower.stop()
        trail.flush(10)
