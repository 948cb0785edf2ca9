"""The audit trail's checkpoint key: Ed25519, kept outside the database.

The private key is a 0600 PEM file in the secrets folder, read only by the process that
signs checkpoints (``lprx audit checkpoint``, run daily); workers never hold it, so a
worker or a database role that rewrites the trail cannot re-sign it. The public key sits
beside it (0644) for anyone who verifies (``lprx audit public-key`` prints it); its
``key_id`` (the first 16 hex digits of the SHA-256 of its raw bytes) names it in each
checkpoint, so a rotated key still verifies the checkpoints it signed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from connectors.security.files import write_secret
from schemas.errors import ConfigurationError

PRIVATE_KEY_NAME = "audit/checkpoint-signing.key"
PUBLIC_KEY_NAME = "audit/checkpoint-signing.pub"


def private_key_file(secrets_dir: Path) -> Path:
    return secrets_dir / PRIVATE_KEY_NAME


def public_key_file(secrets_dir: Path) -> Path:
    return secrets_dir / PUBLIC_KEY_NAME


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ensure_signing_key(secrets_dir: Path, *, create: bool = True) -> Ed25519PrivateKey:
    """The checkpoint key, made once (private 0600, public 0644 beside it). With
    ``create`` false a missing key is an error: where the key comes from a mounted
    Secret (Kubernetes), a new key would sign checkpoints no published key verifies."""
    path = private_key_file(secrets_dir)
    if path.exists():
        return load_signing_key(secrets_dir)
    if not create:
        raise ConfigurationError(
            f"no checkpoint signing key at {path}, and LPRX_AUDIT_SIGNING_KEY_REQUIRED "
            "forbids making one: mount the key's Secret (deploy/README.md)"
        )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_secret(path, pem)
    public = public_key_file(secrets_dir)
    public.write_bytes(public_pem(key.public_key()))
    os.chmod(public, 0o644)
    return key


def load_signing_key(secrets_dir: Path) -> Ed25519PrivateKey:
    path = private_key_file(secrets_dir)
    try:
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigurationError(f"signing key {path} is readable by others; chmod 600 it")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise ConfigurationError(f"cannot read the signing key {path}: {error.strerror}") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"cannot read the public key {path}: {error}") from error
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigurationError(f"{path} is not an Ed25519 public key")
    return key


def signature_valid(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
