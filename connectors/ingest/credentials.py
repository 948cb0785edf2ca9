"""Per-camera ingest credentials: one bearer token per camera (or partner uploader),
stored as a hash, bound to its agency, camera id and kind.

A token reads ``lprxc.<credential id>.<secret>``; only the hash of the secret is kept:
SHA-256 (``sha256$<hex>``). The secret is 256 random bits, not a password: no guess can
find it, so a slow password hash adds nothing but cost (NIST SP 800-63B 5.1.2.2: a
secret of 112 bits or more is hashed with an approved one-way function), and that cost
was real: argon2id takes 130 ms of CPU here, paid by each camera's first post after an
ingest starts, by every camera at once after a restart. Credentials issued before keep
their argon2id hash, still verified (once per token and process), until rotated.
The hashes are kept in a JSON file (0600, default ``<cache_dir>/secrets/cameras.json``) that ``lprx
cameras add|rotate|revoke`` rewrites atomically and every ingest process re-reads when it
changes (checked at most every ``reload_seconds``), so a rotation or revocation takes
effect within seconds, without a restart. A camera's id and kind, and an uploader's
owner and consent reference, come from its credential, never from the request; each
credential has its own rate limit (requests a minute).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, TypeAdapter

from connectors.security.files import write_secret
from schemas.errors import ConfigurationError
from schemas.records import CameraKind, utcnow

TOKEN_PREFIX = "lprxc"  # noqa: S105 (the marker of a token, not a secret)
DEFAULT_RATE_PER_MINUTE = 600
SHA256_SCHEME = "sha256$"
# Hashes of credentials issued before SHA-256: argon2-cffi's defaults (RFC 9106
# low-memory: argon2id, t=3, m=64 MiB, p=4), verified only.
_HASHER = PasswordHasher()


def hash_secret(secret: str) -> str:
    return SHA256_SCHEME + hashlib.sha256(secret.encode()).hexdigest()


def slow_hash(secret_hash: str) -> bool:
    """An argon2id hash (a credential issued before SHA-256): costly to verify."""
    return not secret_hash.startswith(SHA256_SCHEME)


def secret_matches(secret_hash: str, secret: str) -> bool:
    if not slow_hash(secret_hash):
        return hmac.compare_digest(secret_hash, hash_secret(secret))
    try:
        return bool(_HASHER.verify(secret_hash, secret))
    except (VerificationError, InvalidHashError):
        return False


class CameraCredential(BaseModel):
    """What the store keeps of a credential (the secret only as its hash)."""

    model_config = ConfigDict(frozen=True)

    credential_id: str
    agency_ori: str
    camera_id: str
    camera_kind: CameraKind
    secret_hash: str
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE
    # A partner uploader (POST /v1/uploads) is bound to its owner and consent as well.
    uploader: bool = False
    owner: str | None = None
    consent_ref: str | None = None
    created_at: datetime
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


_FILE = TypeAdapter(dict[str, CameraCredential])


def _parse(token: str) -> tuple[str, str] | None:
    prefix, _, rest = token.partition(".")
    credential_id, _, secret = rest.partition(".")
    if prefix != TOKEN_PREFIX or not credential_id or not secret:
        return None
    return credential_id, secret


def _new_secret(credential_id: str) -> tuple[str, str]:
    secret = secrets.token_urlsafe(32)
    return f"{TOKEN_PREFIX}.{credential_id}.{secret}", hash_secret(secret)


class CredentialFile:
    """The credentials file: read, and changed under a lock (the CLI's side)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, CameraCredential]:
        try:
            return _FILE.validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError as error:
            raise ConfigurationError(f"camera credentials file {self.path}: {error}") from None

    @contextmanager
    def _changing(self) -> Iterator[dict[str, CameraCredential]]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self.path.with_name(f".{self.path.name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            credentials = self.load()
            yield credentials
            write_secret(self.path, _FILE.dump_json(credentials, indent=2))

    def _find(
        self, credentials: dict[str, CameraCredential], agency_ori: str, camera_id: str
    ) -> CameraCredential:
        for credential in credentials.values():
            if credential.active and (credential.agency_ori, credential.camera_id) == (
                agency_ori,
                camera_id,
            ):
                return credential
        raise ConfigurationError(f"no active credential for camera {camera_id} of {agency_ori}")

    def add(
        self,
        agency_ori: str,
        camera_id: str,
        camera_kind: CameraKind,
        *,
        rate_per_minute: int = DEFAULT_RATE_PER_MINUTE,
        owner: str | None = None,
        consent_ref: str | None = None,
    ) -> str:
        """A new credential; returns its token (shown once, never stored)."""
        uploader = owner is not None or consent_ref is not None
        if uploader and not (owner and consent_ref):
            raise ConfigurationError("a partner uploader needs both an owner and a consent_ref")
        with self._changing() as credentials:
            if any(
                c.active and (c.agency_ori, c.camera_id) == (agency_ori, camera_id)
                for c in credentials.values()
            ):
                raise ConfigurationError(
                    f"camera {camera_id} of {agency_ori} has a credential; rotate it instead"
                )
            credential_id = secrets.token_hex(8)
            token, secret_hash = _new_secret(credential_id)
            credentials[credential_id] = CameraCredential(
                credential_id=credential_id, agency_ori=agency_ori, camera_id=camera_id,
                camera_kind=camera_kind, secret_hash=secret_hash,
                rate_per_minute=rate_per_minute, uploader=uploader, owner=owner,
                consent_ref=consent_ref, created_at=utcnow(),
            )  # fmt: skip
        return token

    def rotate(self, agency_ori: str, camera_id: str) -> str:
        """A new secret for the camera's credential: the old token stops working."""
        with self._changing() as credentials:
            credential = self._find(credentials, agency_ori, camera_id)
            token, secret_hash = _new_secret(credential.credential_id)
            credentials[credential.credential_id] = credential.model_copy(
                update={"secret_hash": secret_hash, "rotated_at": utcnow()}
            )
        return token

    def revoke(self, agency_ori: str, camera_id: str) -> CameraCredential:
        """The camera's token stops working (kept, marked revoked, for the audit)."""
        with self._changing() as credentials:
            credential = self._find(credentials, agency_ori, camera_id)
            revoked = credential.model_copy(update={"revoked_at": utcnow()})
            credentials[credential.credential_id] = revoked
        return revoked


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class CredentialVerifier:
    """The ingest side: verifies tokens against the file, re-read when it changes, and
    keeps each credential to its rate."""

    path: Path
    reload_seconds: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _credentials: dict[str, CameraCredential] = field(default_factory=dict)
    _stamp: tuple[int, int] | None = None
    _checked: float = float("-inf")
    # sha256(token) -> the argon2id hash it was verified against: argon2 once per token,
    # not per request (a camera posts many times a minute).
    _verified: dict[bytes, str] = field(default_factory=dict)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _refresh(self) -> None:
        now = self.clock()
        if now - self._checked < self.reload_seconds:
            return
        self._checked = now
        try:
            info = os.stat(self.path)
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._credentials = CredentialFile(self.path).load() if stamp else {}
            self._stamp = stamp

    def _lookup(self, token: str) -> tuple[CameraCredential, str, bytes] | None:
        """The active credential ``token`` names, its secret, and the token's digest."""
        parsed = _parse(token)
        if parsed is None:
            return None
        credential_id, secret = parsed
        with self._lock:
            self._refresh()
            credential = self._credentials.get(credential_id)
        if credential is None or not credential.active:
            return None
        return credential, secret, hashlib.sha256(token.encode()).digest()

    def needs_slow_check(self, token: str) -> bool:
        """True when ``verify(token)`` would run argon2 (a credential issued before
        SHA-256, not yet verified in this process): the caller runs it off the loop."""
        found = self._lookup(token)
        if found is None:
            return False
        credential, _, digest = found
        return slow_hash(credential.secret_hash) and (
            self._verified.get(digest) != credential.secret_hash
        )

    def verify(self, token: str) -> CameraCredential | None:
        """The active credential ``token`` belongs to, or None."""
        found = self._lookup(token)
        if found is None:
            return None
        credential, secret, digest = found
        if self._verified.get(digest) == credential.secret_hash:
            return credential
        if not secret_matches(credential.secret_hash, secret):
            return None
        if slow_hash(credential.secret_hash):
            self._verified[digest] = credential.secret_hash
        return credential

    def allow(self, credential: CameraCredential) -> float:
        """0 when this request is within the credential's rate, else seconds to wait."""
        rate = credential.rate_per_minute / 60.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.setdefault(
                credential.credential_id, _Bucket(float(credential.rate_per_minute), now)
            )
            capacity = float(credential.rate_per_minute)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate if rate > 0 else 60.0
