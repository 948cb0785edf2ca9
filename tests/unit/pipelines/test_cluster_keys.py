"""Keys a cluster mounts from Secrets: the checkpoint signing key must never be made
anew when its mount is missing, and the API serves the certificate it is given."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import connectors.cassandra
from connectors.security.files import write_secret
from connectors.security.signing import ensure_signing_key, key_id, private_key_file
from pipelines import cli
from pipelines.api.wiring import tls_files
from pipelines.cli import common
from pipelines.settings import Settings
from schemas.errors import ConfigurationError


def test_a_required_signing_key_that_is_missing_is_an_error_and_none_is_made(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError, match="forbids making one"):
        ensure_signing_key(tmp_path, create=False)
    assert not private_key_file(tmp_path).exists()
    made = ensure_signing_key(tmp_path)
    assert key_id(ensure_signing_key(tmp_path, create=False).public_key()) == key_id(
        made.public_key()
    )


def test_checkpoint_fails_before_connecting_when_the_required_key_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = Settings(cache_dir=tmp_path, audit_signing_key_required=True)
    monkeypatch.setattr(common, "settings", lambda: settings)
    connected: list[object] = []
    monkeypatch.setattr(connectors.cassandra, "CassandraStore", lambda *a, **k: connected.append(a))
    outcome = CliRunner().invoke(cli.app, ["audit", "checkpoint"])
    assert outcome.exit_code == 1
    assert "no checkpoint signing key" in outcome.output
    assert connected == []
    assert not private_key_file(settings.secrets_dir).exists()
    public = CliRunner().invoke(cli.app, ["audit", "public-key"])
    assert public.exit_code == 1 and not private_key_file(settings.secrets_dir).exists()


def test_the_api_serves_the_mounted_certificate_and_key(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    write_secret(key, "-----BEGIN PRIVATE KEY-----\n")
    given = Settings(cache_dir=tmp_path, api_tls_cert_file=cert,
                     api_tls_key_file=key)  # fmt: skip
    assert tls_files(given) == (cert, key)
    assert not (tmp_path / "secrets" / "tls" / "ca.pem").exists()  # no lprx CA made
    with pytest.raises(ConfigurationError, match="set both"):
        tls_files(given.model_copy(update={"api_tls_key_file": None}))
    with pytest.raises(ConfigurationError, match="missing"):
        tls_files(given.model_copy(update={"api_tls_cert_file": tmp_path / "absent.crt"}))
    key.chmod(0o640)
    with pytest.raises(ConfigurationError, match="readable by others"):
        tls_files(given)


def test_without_mounted_files_the_api_makes_an_lprx_ca_certificate(tmp_path: Path) -> None:
    pem, key = tls_files(Settings(cache_dir=tmp_path))
    assert key is None
    assert pem == tmp_path / "secrets" / "tls" / "api.pem"
    assert b"PRIVATE KEY" in pem.read_bytes() and b"CERTIFICATE" in pem.read_bytes()
