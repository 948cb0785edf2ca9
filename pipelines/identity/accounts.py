"""lprx's own accounts: logins with a password and a TOTP code, sessions, service keys.

CJIS asks (``shared/notes/access.md``): individual accounts with multi-factor
authentication (IA-2), lock after 5 failed logons in 15 minutes (AC-7), end a session
after 30 minutes idle and re-authenticate every 12 hours (AC-11, AAL2), disable an
account unused for 90 days (AC-2). Each limit is a setting (``ApiConfig``); the clock is
injected so tests can walk through them.

Passwords and service keys are hashed with argon2id; TOTP secrets are sealed (Fernet,
a key in the cache's secrets folder) before they reach Cassandra. A session token is
random, handed to the client once, and kept only as its SHA-256. A reset of a person's
credentials ends all their sessions, a change of their password all but the one making
it (``Account.sessions_valid_from``, ``session_kept``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

from connectors.security.files import read_secret, write_secret
from pipelines.identity.config import ApiConfig
from schemas.errors import AccessDenied, RequestRefused
from schemas.people import Account, AccountKind, Principal, Role, Session
from schemas.records import utcnow

SESSION_PREFIX = "lprxs_"
SERVICE_PREFIX = "lprxk_"
_USERNAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
_HASHER = PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile
# A hash to verify against when the account is unknown, so both take the same time.
_UNKNOWN_ACCOUNT_HASH = _HASHER.hash(secrets.token_urlsafe(16))

Clock = Callable[[], datetime]


class AccountStore(Protocol):
    """Where accounts live: ``connectors.cassandra.identity.CassandraAccounts``, or
    ``MemoryAccounts`` in tests."""

    def account(self, username: str) -> Account | None: ...
    def put_account(self, account: Account) -> None: ...
    def accounts_of_agency(self, agency_ori: str) -> list[Account]: ...
    def session(self, token_hash: str) -> Session | None: ...
    def put_session(self, session: Session, ttl_seconds: int) -> None: ...
    def delete_session(self, token_hash: str) -> None: ...
    def failures_since(self, username: str, since: datetime) -> int: ...
    def add_failure(self, username: str, at: datetime, ttl_seconds: int) -> None: ...
    def clear_failures(self, username: str) -> None: ...


class LoginRefused(AccessDenied):
    """A login refused. ``str()`` is what the person is told (never which factor was
    wrong); ``reason`` is what the audit trail records."""

    def __init__(self, reason: str, told: str = "login refused: wrong username, password "
                 "or code, or the account is locked or disabled") -> None:  # fmt: skip
        super().__init__(told)
        self.reason = reason


@dataclass(frozen=True)
class NewPerson:
    account: Account
    totp_uri: str  # otpauth:// URI for an authenticator app; holds the secret


def one_time_password() -> str:
    """A generated password (about 144 bits), for its holder to use once and change."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(4))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_username(username: str) -> str:
    if not (2 <= len(username) <= 64) or not set(username) <= _USERNAME_CHARACTERS:
        raise RequestRefused(
            "a username is 2-64 characters of a-z, 0-9, '.', '_' and '-' (individual, never shared)"
        )
    return username


class TotpSealer:
    """Seals TOTP secrets with a key kept 0600 in ``<secrets>/api/totp.key``."""

    def __init__(self, key_file: Path) -> None:
        if not key_file.exists():
            write_secret(key_file, Fernet.generate_key() + b"\n")
        self._fernet = Fernet(read_secret(key_file).get_secret_value().encode())

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as error:
            raise LoginRefused("the TOTP secret does not open with this key") from error


class IdentityService:
    def __init__(
        self, store: AccountStore, sealer: TotpSealer, config: ApiConfig, clock: Clock = utcnow
    ) -> None:
        self.store = store
        self._sealer = sealer
        self._config = config
        self._clock = clock

    # --- accounts ---------------------------------------------------------------------

    def add_person(
        self, username: str, agency_ori: str, roles: frozenset[Role], password: str,
        created_by: str, *, must_change_password: bool = False,
    ) -> NewPerson:  # fmt: skip
        """A new person's account with its TOTP secret (returned once, as a URI).
        ``must_change_password``: the password is someone else's choice (an
        administrator's, a generated one), to be changed at first use (CJIS IA-5)."""
        self._check_new(username, password)
        secret = pyotp.random_base32()
        account = Account(
            username=username, kind=AccountKind.PERSON, agency_ori=agency_ori, roles=roles,
            password_hash=_HASHER.hash(password), created_at=self._clock(),
            created_by=created_by, totp_secret=self._sealer.seal(secret),
            must_change_password=must_change_password,
        )  # fmt: skip
        self.store.put_account(account)
        uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="lprx")
        return NewPerson(account, uri)

    def reset_person(self, username: str, password: str, by: str) -> NewPerson:
        """New password and TOTP secret for a person (lost phone, forgotten password),
        enabled again; the old factors and every session begun before stop working at
        once (``by`` is the audit's, kept by the caller). The password is someone
        else's: its holder must change it before doing anything else."""
        account = self.store.account(username)
        if account is None or account.kind is not AccountKind.PERSON:
            raise RequestRefused(f"no person {username}")
        if len(password) < self._config.api_password_min_length:
            raise RequestRefused(
                f"a password has at least {self._config.api_password_min_length} characters"
            )
        secret = pyotp.random_base32()
        reset = replace(
            account, password_hash=_HASHER.hash(password), totp_secret=self._sealer.seal(secret),
            last_used_at=self._clock(), last_totp_step=0, disabled_at=None,
            disabled_reason=None, sessions_valid_from=self._clock(), session_kept=None,
            must_change_password=True,
        )  # fmt: skip
        self.store.put_account(reset)
        self.store.clear_failures(username)
        uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="lprx")
        return NewPerson(reset, uri)

    def reset_with_one_time_password(self, username: str, by: str) -> tuple[str, NewPerson]:
        """``reset_person`` with a generated password, for its holder to use once and
        change (``POST /v1/me/password``); returned once, kept only as its hash."""
        password = one_time_password()
        return password, self.reset_person(username, password, by)

    def change_password(
        self, username: str, current: str, new: str, keep_token: str | None = None
    ) -> None:
        """A person's own new password, after the current one is shown right; from now
        on the password is theirs (a change no longer due). Every other session of theirs
        ends at once (CJIS IA-5: whoever else held the old password, or a session left
        open somewhere, is out); ``keep_token``, the session making the change, goes on."""
        account = self.store.account(username)
        if account is None or account.kind is not AccountKind.PERSON:
            raise RequestRefused(f"no person {username}")
        if not _verify(account.password_hash, current):
            raise AccessDenied("the current password is wrong")
        if len(new) < self._config.api_password_min_length or new == current:
            raise RequestRefused(
                f"a new password has at least {self._config.api_password_min_length} "
                "characters and is not the current one"
            )
        changed = replace(
            account, password_hash=_HASHER.hash(new), must_change_password=False,
            sessions_valid_from=self._clock(),
            session_kept=token_hash(keep_token) if keep_token else None,
        )  # fmt: skip
        self.store.put_account(changed)

    def password_change_due(self, username: str) -> bool:
        account = self.store.account(username)
        return account is not None and account.must_change_password

    def add_service(self, username: str, agency_ori: str, created_by: str) -> tuple[Account, str]:
        """A service account of an agency and its key (shown once, kept hashed)."""
        check_username(username)
        if self.store.account(username) is not None:
            raise RequestRefused(f"account {username} exists")
        key = f"{SERVICE_PREFIX}{username}.{secrets.token_urlsafe(32)}"
        account = Account(
            username=username, kind=AccountKind.SERVICE, agency_ori=agency_ori,
            roles=frozenset({Role.SERVICE}), password_hash=_HASHER.hash(key),
            created_at=self._clock(), created_by=created_by,
        )  # fmt: skip
        self.store.put_account(account)
        return account, key

    def disable(self, username: str, reason: str) -> Account:
        account = self.store.account(username)
        if account is None:
            raise RequestRefused(f"no account {username}")
        disabled = replace(account, disabled_at=self._clock(), disabled_reason=reason)
        self.store.put_account(disabled)
        return disabled

    def _check_new(self, username: str, password: str) -> None:
        check_username(username)
        if len(password) < self._config.api_password_min_length:
            raise RequestRefused(
                f"a password has at least {self._config.api_password_min_length} characters"
            )
        if self.store.account(username) is not None:
            raise RequestRefused(f"account {username} exists")

    # --- login ------------------------------------------------------------------------

    def login(self, username: str, password: str, code: str) -> tuple[str, Session]:
        """A new session for a person whose password and current TOTP code are right;
        raises ``LoginRefused``. Every refusal counts towards the lockout."""
        now = self._clock()
        window = timedelta(minutes=self._config.api_lockout_minutes)
        if self.store.failures_since(username, now - window) >= self._config.api_lockout_failures:
            raise LoginRefused("account locked: too many failed logins")
        account = self.store.account(username)
        try:
            self._check_login(account, password, code, now)
        except LoginRefused:
            self.store.add_failure(username, now, int(window.total_seconds()))
            raise
        assert account is not None  # checked above
        step = self._code_step(account, code, now)
        self.store.put_account(replace(account, last_used_at=now, last_totp_step=step))
        self.store.clear_failures(username)
        return self._new_session(account, now)

    def _check_login(
        self, account: Account | None, password: str, code: str, now: datetime
    ) -> None:
        if account is None or account.kind is not AccountKind.PERSON:
            _verify(_UNKNOWN_ACCOUNT_HASH, password)
            raise LoginRefused("unknown account")
        if not _verify(account.password_hash, password):
            raise LoginRefused("wrong password")
        if not account.active:
            raise LoginRefused(f"account disabled: {account.disabled_reason}")
        if self._unused_too_long(account, now):
            self.disable(account.username, "unused for too long")
            raise LoginRefused("account disabled: unused for too long")
        if account.totp_secret is None:
            raise LoginRefused("no second factor enrolled")
        step = self._code_step(account, code, now)
        if step < 0:
            raise LoginRefused("wrong second factor")
        if step <= account.last_totp_step:
            raise LoginRefused("second factor code already used")

    def _code_step(self, account: Account, code: str, now: datetime) -> int:
        """The 30-second step whose code ``code`` is (this one or a neighbour, for clock
        drift), or -1. A step is used once: a code seen cannot log in again."""
        assert account.totp_secret is not None
        totp = pyotp.TOTP(self._sealer.open(account.totp_secret))
        step = int(now.timestamp()) // totp.interval
        for candidate in (step, step - 1, step + 1):
            if secrets.compare_digest(totp.generate_otp(candidate), code.strip()):
                return candidate
        return -1

    def _unused_too_long(self, account: Account, now: datetime) -> bool:
        last = account.last_used_at or account.created_at
        return now - last > timedelta(days=self._config.api_account_max_unused_days)

    def _new_session(self, account: Account, now: datetime) -> tuple[str, Session]:
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        expires = now + timedelta(hours=self._config.api_session_absolute_hours)
        session = Session(
            token_hash=token_hash(token), username=account.username,
            agency_ori=account.agency_ori, roles=account.roles, created_at=now,
            last_seen_at=now, expires_at=expires,
        )  # fmt: skip
        self.store.put_session(session, _seconds_left(expires, now))
        return token, session

    def logout(self, token: str) -> None:
        self.store.delete_session(token_hash(token))

    # --- each request -----------------------------------------------------------------

    def principal(self, token: str) -> Principal:
        """Who holds ``token`` (an lprx session or a service key); raises ``AccessDenied``."""
        if token.startswith(SERVICE_PREFIX):
            return self._service(token)
        if not token.startswith(SESSION_PREFIX):
            raise AccessDenied("not an lprx token")
        now = self._clock()
        hashed = token_hash(token)
        session = self.store.session(hashed)
        if session is None or now >= session.expires_at:
            raise AccessDenied("no such session, or it ended: log in again")
        idle = timedelta(minutes=self._config.api_session_idle_minutes)
        if now - session.last_seen_at >= idle:
            self.store.delete_session(hashed)
            raise AccessDenied("session ended after being idle: log in again")
        account = self.store.account(session.username)
        if account is None or not account.active:
            self.store.delete_session(hashed)
            raise AccessDenied("the account is disabled")
        if _ended_by_credentials(account, session):
            self.store.delete_session(hashed)
            by = (
                "a change of the password" if account.session_kept else "a reset of the credentials"
            )
            raise AccessDenied(f"the session was ended by {by}: log in again")
        self.store.put_session(replace(session, last_seen_at=now),
                               _seconds_left(session.expires_at, now))  # fmt: skip
        # Roles as the account has them now: a role taken away takes effect at once.
        return Principal(account.username, account.agency_ori, account.roles, "session",
                         must_change_password=account.must_change_password)  # fmt: skip

    def _service(self, key: str) -> Principal:
        username = key.removeprefix(SERVICE_PREFIX).split(".", 1)[0]
        account = self.store.account(username)
        if (
            account is None
            or account.kind is not AccountKind.SERVICE
            or not _verify(account.password_hash, key)
        ):
            raise AccessDenied("unknown service key")
        now = self._clock()
        if not account.active:
            raise AccessDenied("the service account is disabled")
        if self._unused_too_long(account, now):
            self.disable(username, "unused for too long")
            raise AccessDenied("the service account is disabled: unused for too long")
        last = account.last_used_at
        if last is None or now - last > timedelta(hours=1):  # one write an hour, not each call
            self.store.put_account(replace(account, last_used_at=now))
        return Principal(account.username, account.agency_ori, account.roles, "service")


def _ended_by_credentials(account: Account, session: Session) -> bool:
    """Whether a reset or a password change since ``session`` began ended it (the
    session that changed the password is kept)."""
    valid_from = account.sessions_valid_from
    if valid_from is None or session.created_at >= valid_from:
        return False
    return session.token_hash != account.session_kept


def _verify(password_hash: str, secret: str) -> bool:
    try:
        return _HASHER.verify(password_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def _seconds_left(until: datetime, now: datetime) -> int:
    return max(1, int((until - now).total_seconds()) + 1)
