"""Shared fixtures of the pipelines' integration tests: Keycloak's (from
tests/integration/connectors/test_oidc_keycloak.py), for the API's test with a real
provider's tokens; and, for a module that names no ``settings`` or ``store`` of its own,
its own provisioned topics, users and keyspace, and the store on them, the CLI's
settings naming no principal (each command logs in as its own), the keyspace dropped
after."""

from collections.abc import Iterator

import pytest

from connectors.cassandra import CassandraStore
from pipelines.cli import common
from pipelines.settings import Settings
from tests.conftest import provision, unique_settings
from tests.integration.connectors.test_oidc_keycloak import admin, keycloak, realms  # noqa: F401


@pytest.fixture
def settings(servers: Settings) -> Settings:
    return provision(unique_settings(servers, topic_partitions=1))


@pytest.fixture
def store(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CassandraStore]:
    unnamed = settings.model_copy(update={"kafka_principal": None, "cassandra_username": None})
    monkeypatch.setattr(common, "settings", lambda: unnamed)
    with CassandraStore(settings, create_schema=False) as store:
        yield store
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
