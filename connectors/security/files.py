"""Secret files: generated once, written 0600 (folders 0700), read back as SecretStr.

A secret never goes through argv, a log line or the repository: processes are told the
file's path (``LPRX_KAFKA_PASSWORD_FILE``, ...) and read it themselves.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from pydantic import SecretStr

from schemas.errors import ConfigurationError

PASSWORD_BYTES = 32


def new_password() -> SecretStr:
    # URL-safe base64: no quote, backslash or space, so it fits JAAS and CQL literals.
    return SecretStr(secrets.token_urlsafe(PASSWORD_BYTES))


def _private_dir(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)


def write_secret(path: Path, data: str | bytes) -> Path:
    """Writes ``data`` to ``path`` atomically, readable by the owner only."""
    _private_dir(path.parent)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def read_secret(path: Path) -> SecretStr:
    """The secret in ``path``; refuses a file that others than its owner can read."""
    try:
        mode = path.stat().st_mode
        text = path.read_text("utf-8").strip()
    except OSError as error:
        raise ConfigurationError(
            f"cannot read the secret file {path} ({error.strerror}); run `lprx services up` "
            "and `lprx setup`, or point the setting at the right file"
        ) from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(f"secret file {path} is readable by others; chmod 600 it")
    if not text:
        raise ConfigurationError(f"secret file {path} is empty")
    return SecretStr(text)


def ensure_password(path: Path) -> SecretStr:
    """The password in ``path``, generated and written first if there is none."""
    if not path.exists():
        write_secret(path, new_password().get_secret_value() + "\n")
    return read_secret(path)
