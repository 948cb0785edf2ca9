"""The local certificate authority: a CA and the servers' certificates, made with
``cryptography`` into the git-ignored cache.

Every lprx server presents a certificate signed by this CA, and every client trusts the
CA file alone (``LPRX_KAFKA_CA_FILE``, ``LPRX_CASSANDRA_CA_FILE``). Private keys are
written 0600; a server's key and certificate chain share one PEM file, the form both
Kafka (``ssl.keystore.type=PEM``) and Cassandra (``PEMBasedSslContextFactory``) read.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connectors.security.files import write_secret

CA_DAYS = 3650
LEAF_DAYS = 825
RENEW_BEFORE = timedelta(days=30)
_KEY_BITS = 2048
_ORG = "lprx"


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey
    cert_file: Path


_CA_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    # PKCS#8, the one private key form every TLS stack here reads (Java, OpenSSL, Python).
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _fresh(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - RENEW_BEFORE > datetime.now(UTC)


def ensure_ca(tls_dir: Path) -> Authority:
    """The CA in ``tls_dir`` (``ca.pem``, ``ca.key``), created on first use."""
    cert_file, key_file = tls_dir / "ca.pem", tls_dir / "ca.key"
    if cert_file.exists() and key_file.exists():
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if _fresh(cert) and isinstance(key, rsa.RSAPrivateKey):
            return Authority(cert, key, cert_file)
    key = _new_key()
    now = datetime.now(UTC)
    name = _name("lprx local CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_secret(key_file, _key_pem(key))
    write_secret(cert_file, cert.public_bytes(serialization.Encoding.PEM))
    # The CA certificate is public: every client reads it.
    cert_file.chmod(0o644)
    return Authority(cert, key, cert_file)


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys([*hosts, "localhost", "127.0.0.1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _covers(cert: x509.Certificate, hosts: list[str]) -> bool:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    present = {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(
        san.get_values_for_type(x509.DNSName)
    )
    return all(h in present for h in hosts)


def ensure_keystore(ca: Authority, path: Path, common_name: str, hosts: list[str]) -> Path:
    """A PEM keystore (key + certificate + CA) at ``path`` for a server named
    ``common_name`` reachable at ``hosts``; usable as TLS server and as TLS client (a
    broker is its own controller's client). Reissued when expiring or hosts change."""
    if path.exists():
        blocks = path.read_bytes()
        certs = x509.load_pem_x509_certificates(blocks)
        if (
            certs
            and certs[0].issuer == ca.cert.subject
            and _fresh(certs[0])
            and _covers(certs[0], hosts)
        ):
            return path
    key = _new_key()
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    pem = (
        _key_pem(key)
        + cert.public_bytes(serialization.Encoding.PEM)
        + ca.cert.public_bytes(serialization.Encoding.PEM)
    )
    return write_secret(path, pem)
