"""Client security settings, secret files and the local CA (no servers needed)."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from connectors.kafka import acls
from connectors.kafka.security import (
    as_principal,
    client_config,
    faust_credentials,
    password_file,
    properties_file_text,
)
from connectors.security.files import ensure_password, read_secret, write_secret
from connectors.security.pki import ensure_ca, ensure_keystore
from pipelines.access import FAUST_TABLES, Role, as_role, worker_role
from pipelines.runtime.app import create_pipeline
from pipelines.settings import Settings
from schemas.errors import ConfigurationError


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    ensure_ca(tmp_path / "secrets" / "tls")
    return Settings(cache_dir=tmp_path, kafka_principal=None, kafka_password=None)


def test_secret_files_are_owner_only_and_refused_when_not(tmp_path: Path) -> None:
    path = tmp_path / "s" / "x.password"
    first = ensure_password(path)
    assert ensure_password(path).get_secret_value() == first.get_secret_value()  # kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(first.get_secret_value()) >= 40
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="readable by others"):
        read_secret(path)
    write_secret(path, "again")
    assert read_secret(path).get_secret_value() == "again"


def test_ca_and_keystore_chain_and_name_the_host(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path)
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600
    store = ensure_keystore(ca, tmp_path / "broker.pem", "lprx-broker", ["127.0.0.1"])
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    text = store.read_bytes()
    assert b"BEGIN PRIVATE KEY" in text
    leaf, issuer = x509.load_pem_x509_certificates(text)
    assert leaf.issuer == ca.cert.subject == issuer.subject
    leaf.verify_directly_issued_by(ca.cert)
    context = ssl.create_default_context(cafile=str(ca.cert_file))
    context.load_cert_chain(store)  # key and certificate match
    # Asked again: the same keystore (not reissued), the same CA.
    assert ensure_keystore(ca, store, "lprx-broker", ["127.0.0.1"]).read_bytes() == text
    assert ensure_ca(tmp_path).cert == ca.cert


def test_client_config_is_scram_over_tls_with_the_principals_password(
    settings: Settings,
) -> None:
    worker = as_principal(settings, acls.WORKER)
    secret = ensure_password(password_file(worker, acls.WORKER))
    config = client_config(worker)
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert config["sasl.username"] == "lprx-worker"
    assert config["sasl.password"] == secret.get_secret_value()
    assert config["ssl.ca.location"] == str(settings.default_ca_file)
    assert config["ssl.endpoint.identification.algorithm"] == "https"
    # An explicit principal is never replaced by a command's default.
    assert as_principal(worker, acls.ADMIN).kafka_principal == acls.WORKER
    # The password is a secret: never in the settings' repr.
    assert secret.get_secret_value() not in repr(
        worker.model_copy(update={"kafka_password": secret})
    )


def test_no_principal_or_no_password_file_is_refused(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="LPRX_KAFKA_PRINCIPAL"):
        client_config(settings)
    with pytest.raises(ConfigurationError, match="cannot read the secret file"):
        client_config(as_principal(settings, "nobody"))


def test_faust_app_logs_in_with_scram_over_tls(settings: Settings, tmp_path: Path) -> None:
    worker = as_role(settings.model_copy(update={"table_store": "memory://"}), Role.WORKER)
    ensure_password(password_file(worker, acls.WORKER))
    pipeline = create_pipeline(worker.model_copy(update={"table_data_dir": tmp_path / "t"}))
    credentials = pipeline.app.conf.broker_credentials
    credentials_again = faust_credentials(worker)
    assert credentials is not None and credentials_again is not None
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.username == "lprx-worker"
    assert credentials.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert credentials.ssl_context.check_hostname
    # The tables whose changelogs the OCR principal's literal ACLs name.
    assert sorted(pipeline.app.tables) == sorted(FAUST_TABLES)


def test_an_ocr_only_worker_is_the_ocr_service() -> None:
    assert worker_role(["ocr"]) is Role.OCR
    assert worker_role(["ocr", "normalize"]) is Role.WORKER
    assert worker_role(["store"]) is Role.WORKER


def test_partner_grants_are_its_own_topic_and_dispositions_only(settings: Settings) -> None:
    grants = {str(g) for g in acls.partner_grants(settings, "MN0000002")}
    assert grants == {
        "READ topic lprx.hits.MN0000002 (literal)",
        "WRITE topic lprx.dispositions (literal)",
        "READ group partner-MN0000002 (literal)",
        "READ group partner-MN0000002- (prefix)",
    }


def test_worker_transactions_are_granted_for_its_prefix_only(settings: Settings) -> None:
    grants = {str(g) for g in acls.worker_grants(settings)}
    transactional = {g for g in grants if "transactional_id" in g}
    assert transactional == {
        "DESCRIBE transactional_id lprx-share- (prefix)",
        "WRITE transactional_id lprx-share- (prefix)",
    }
    assert {
        "READ topic lprx.hit-alerts (literal)",
        "WRITE topic lprx.hit-alerts (literal)",
    } <= grants
    # Nothing on the cluster: idempotent writes come with Write on a topic.
    assert not any(" broker " in g for g in grants)


def test_ocr_grants_name_its_own_app_topics_only(settings: Settings) -> None:
    grants = acls.ocr_grants(settings, FAUST_TABLES)
    assert not any(g.prefixed for g in grants)  # "lprx-ocr" would match "lprx-ocr-normalize..."
    names = {g.name for g in grants}
    assert "lprx-ocr-dedup-vehicle-passes-changelog" in names
    assert "lprx.reads" not in names and "lprx.hits" not in names


def test_partner_properties_file_is_ready_for_librdkafka(settings: Settings) -> None:
    partner = as_principal(settings, "partner-MN0000002")
    ensure_password(password_file(partner, "partner-MN0000002"))
    lines = dict(line.split("=", 1) for line in properties_file_text(partner).splitlines())
    assert lines["bootstrap.servers"] == settings.kafka_bootstrap_servers
    assert lines["security.protocol"] == "SASL_SSL"
    assert lines["sasl.username"] == "partner-MN0000002"
