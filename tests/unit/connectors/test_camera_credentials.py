"""Per-camera ingest credentials: SHA-256 hashes (argon2id ones issued before still
verified), rotation, revocation, rate limits,
and the ingest app refusing a camera that posts as another (no servers needed)."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from connectors.ingest.app import create_ingest_app
from connectors.ingest.credentials import CredentialFile, CredentialVerifier
from connectors.kafka.sink import MemorySink
from pipelines.settings import Settings
from schemas.errors import ConfigurationError
from schemas.records import AuditAction, CameraKind, utcnow

AGENCY = "MN9990001"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_a_sha256_hash_is_stored_and_the_file_is_owner_only(tmp_path: Path) -> None:
    file = CredentialFile(tmp_path / "cameras.json")
    token = file.add(AGENCY, "cam-1", CameraKind.SQUAD_CAR)
    text = file.path.read_text()
    secret = token.rsplit(".", 1)[1]
    assert secret not in text
    stored = json.loads(text)[token.split(".")[1]]["secret_hash"]
    assert stored == "sha256$" + hashlib.sha256(secret.encode()).hexdigest()
    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600
    verifier = CredentialVerifier(file.path)
    assert not verifier.needs_slow_check(token)  # checked on the event loop, no thread
    credential = verifier.verify(token)
    assert credential is not None
    assert (credential.agency_ori, credential.camera_id, credential.camera_kind) == (
        AGENCY, "cam-1", CameraKind.SQUAD_CAR,
    )  # fmt: skip
    assert verifier.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert verifier.verify("lprxc.nope.nope") is None
    with pytest.raises(ConfigurationError, match="rotate it instead"):
        file.add(AGENCY, "cam-1", CameraKind.FIXED)


def test_a_credential_issued_with_argon2id_still_verifies_off_the_loop_once(
    tmp_path: Path,
) -> None:
    file = CredentialFile(tmp_path / "cameras.json")
    token = file.add(AGENCY, "cam-1", CameraKind.FIXED)
    credential_id, secret = token.split(".")[1:]
    # As written before SHA-256: the same secret, hashed with argon2id.
    issued = json.loads(file.path.read_text())
    issued[credential_id]["secret_hash"] = PasswordHasher().hash(secret)
    file.path.write_text(json.dumps(issued))
    clock = Clock()
    verifier = CredentialVerifier(file.path, clock=clock)
    assert verifier.needs_slow_check(token)  # argon2 ahead: the ingest runs it in a thread
    assert verifier.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert verifier.verify(token) is not None
    assert not verifier.needs_slow_check(token)  # verified once: the next posts are quick
    assert verifier.verify(token) is not None
    new_token = file.rotate(AGENCY, "cam-1")  # a rotation gives a SHA-256 hash
    clock.now += 2  # past the reload interval: the file is re-read
    assert not verifier.needs_slow_check(new_token)
    assert verifier.verify(new_token) is not None
    assert verifier.verify(token) is None


def test_rotation_and_revocation_take_effect_without_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    file = CredentialFile(tmp_path / "cameras.json")
    old = file.add(AGENCY, "cam-1", CameraKind.FIXED)
    verifier = CredentialVerifier(file.path, reload_seconds=1.0, clock=clock)
    assert verifier.verify(old) is not None
    new = file.rotate(AGENCY, "cam-1")
    clock.now += 1.1  # the next check of the file
    assert verifier.verify(old) is None
    assert verifier.verify(new) is not None
    file.revoke(AGENCY, "cam-1")
    clock.now += 1.1
    assert verifier.verify(new) is None
    assert not next(iter(file.load().values())).active  # kept, marked revoked


def test_each_credential_has_its_own_rate(tmp_path: Path) -> None:
    clock = Clock()
    file = CredentialFile(tmp_path / "cameras.json")
    slow = file.add(AGENCY, "slow", CameraKind.FIXED, rate_per_minute=2)
    fast = file.add(AGENCY, "fast", CameraKind.FIXED, rate_per_minute=600)
    verifier = CredentialVerifier(file.path, clock=clock)
    slow_c, fast_c = verifier.verify(slow), verifier.verify(fast)
    assert slow_c is not None and fast_c is not None
    assert [verifier.allow(slow_c) for _ in range(2)] == [0.0, 0.0]
    assert verifier.allow(slow_c) > 0  # the third in a minute waits
    assert verifier.allow(fast_c) == 0.0  # another credential is not held up
    clock.now += 30.0
    assert verifier.allow(slow_c) == 0.0


def _read(camera_id: str, kind: str = "FIXED") -> dict[str, object]:
    return {
        "camera_id": camera_id, "camera_kind": kind, "plate": "ABC123", "confidence": 90.0,
        "collected_at": utcnow().isoformat(),
    }  # fmt: skip


def test_a_camera_posts_only_its_own_reads_with_its_own_kind(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path, kafka_security_protocol="PLAINTEXT")
    file = CredentialFile(settings.camera_credentials_path)
    token = file.add(AGENCY, "cam-1", CameraKind.SQUAD_CAR)
    sink = MemorySink()
    with TestClient(create_ingest_app(settings, sink)) as client:
        auth = {"Authorization": f"Bearer {token}"}
        ok = client.post("/v1/reads", json=_read("cam-1", "FIXED"), headers=auth)
        assert ok.status_code == 202, ok.text
        assert [(r.agency_ori, r.camera_id, r.camera_kind) for r in sink.reads] == [
            (AGENCY, "cam-1", CameraKind.SQUAD_CAR)  # the kind is the credential's
        ]
        other = client.post("/v1/reads", json=_read("cam-2"), headers=auth)
        assert other.status_code == 403
        assert len(sink.reads) == 1
        denied = [a for a in sink.audits if a.action is AuditAction.ACCESS_DENIED]
        assert [(a.actor, a.actor_agency_ori) for a in denied] == [("camera:cam-1", AGENCY)]
        # A camera's credential does not upload videos.
        upload = client.post("/v1/uploads", content=b"x", headers=auth)
        assert upload.status_code == 403
