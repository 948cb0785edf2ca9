"""lprx's own accounts in Cassandra: people and services, sessions, failed logins.

Only the API's role (``lprx_api``, connectors/cassandra/roles.py) may read or change
these tables; the workers' and look-ups' roles have no grant on them. What is kept:

- ``people``: an account (argon2id hash, the sealed TOTP secret, roles, last use,
  whether its password was set by someone else and must be changed, since when its
  sessions count and the hash of the one kept by a password change);
  ``people_by_agency`` lists an agency's usernames.
- ``sessions``: a session by the SHA-256 of its token, never the token; each row has the
  TTL of the session's absolute limit, so Cassandra destroys it then at the latest.
- ``login_failures``: one row per failed login, TTL the lockout window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cassandra.cluster import Session as CqlSession

from connectors.cassandra.rows import utc
from connectors.cassandra.session import TUPLE_ROWS, map_exceptions
from schemas.people import Account, AccountKind, Role, Session
from schemas.records import new_id

IDENTITY_TABLES = ("people", "people_by_agency", "sessions", "login_failures")

IDENTITY_CQL = [
    """CREATE TABLE IF NOT EXISTS {ks}.people (
        username text PRIMARY KEY, kind text, agency_ori text, roles set<text>,
        password_hash text, totp_secret text, created_at timestamp, created_by text,
        last_used_at timestamp, last_totp_step bigint,
        disabled_at timestamp, disabled_reason text, sessions_valid_from timestamp,
        must_change_password boolean, session_kept text
    )""",
    """CREATE TABLE IF NOT EXISTS {ks}.people_by_agency (
        agency_ori text, username text, PRIMARY KEY ((agency_ori), username)
    )""",
    """CREATE TABLE IF NOT EXISTS {ks}.sessions (
        token_hash text PRIMARY KEY, username text, agency_ori text, roles set<text>,
        created_at timestamp, last_seen_at timestamp, expires_at timestamp
    )""",
    """CREATE TABLE IF NOT EXISTS {ks}.login_failures (
        username text, failed_at timestamp, attempt_id text,
        PRIMARY KEY ((username), failed_at, attempt_id)
    ) WITH CLUSTERING ORDER BY (failed_at DESC, attempt_id ASC)""",
]

_PEOPLE_COLUMNS = (
    "username", "kind", "agency_ori", "roles", "password_hash", "totp_secret", "created_at",
    "created_by", "last_used_at", "last_totp_step", "disabled_at", "disabled_reason",
    "sessions_valid_from", "must_change_password", "session_kept",
)  # fmt: skip
_SESSION_COLUMNS = (
    "token_hash", "username", "agency_ori", "roles", "created_at", "last_seen_at", "expires_at",
)  # fmt: skip


def _account(row: Any) -> Account:
    (username, kind, agency, roles, password_hash, totp, created_at, created_by, last_used,
     step, disabled_at, reason, valid_from, must_change, kept) = row  # fmt: skip
    return Account(
        username=username,
        kind=AccountKind(kind),
        agency_ori=agency,
        roles=frozenset(Role(r) for r in roles or ()),
        password_hash=password_hash,
        created_at=utc(created_at),
        created_by=created_by,
        totp_secret=totp,
        last_used_at=utc(last_used) if last_used else None,
        last_totp_step=int(step or 0),
        disabled_at=utc(disabled_at) if disabled_at else None,
        disabled_reason=reason,
        sessions_valid_from=utc(valid_from) if valid_from else None,
        must_change_password=bool(must_change),  # null on rows from before the column
        session_kept=kept,
    )


def _session(row: Any) -> Session:
    token_hash, username, agency, roles, created_at, last_seen_at, expires_at = row
    return Session(
        token_hash=token_hash,
        username=username,
        agency_ori=agency,
        roles=frozenset(Role(r) for r in roles or ()),
        created_at=utc(created_at),
        last_seen_at=utc(last_seen_at),
        expires_at=utc(expires_at),
    )


class CassandraAccounts:
    """The identity tables of one keyspace (``AccountStore`` of pipelines/identity)."""

    def __init__(self, session: CqlSession, ks: str) -> None:
        self._session = session
        with map_exceptions("statement preparation"):
            prepare = session.prepare
            people = ", ".join(_PEOPLE_COLUMNS)
            marks = ", ".join("?" for _ in _PEOPLE_COLUMNS)
            self._get = prepare(f"SELECT {people} FROM {ks}.people WHERE username = ?")
            self._put = prepare(f"INSERT INTO {ks}.people ({people}) VALUES ({marks})")
            self._put_agency = prepare(
                f"INSERT INTO {ks}.people_by_agency (agency_ori, username) VALUES (?, ?)"
            )
            self._of_agency = prepare(
                f"SELECT username FROM {ks}.people_by_agency WHERE agency_ori = ?"
            )
            self._all = prepare(f"SELECT {people} FROM {ks}.people LIMIT ?")
            sessions = ", ".join(_SESSION_COLUMNS)
            self._get_session = prepare(
                f"SELECT {sessions} FROM {ks}.sessions WHERE token_hash = ?"
            )
            self._put_session = prepare(
                f"INSERT INTO {ks}.sessions ({sessions}) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?"
            )
            self._delete_session = prepare(f"DELETE FROM {ks}.sessions WHERE token_hash = ?")
            self._failures = prepare(
                f"SELECT count(*) FROM {ks}.login_failures WHERE username = ? AND failed_at > ?"
            )
            self._add_failure = prepare(
                f"INSERT INTO {ks}.login_failures (username, failed_at, attempt_id) "
                "VALUES (?, ?, ?) USING TTL ?"
            )
            self._clear_failures = prepare(f"DELETE FROM {ks}.login_failures WHERE username = ?")

    def _execute(self, statement: Any, params: tuple[Any, ...]) -> list[Any]:
        with map_exceptions("identity"):
            return list(self._session.execute(statement, params, execution_profile=TUPLE_ROWS))

    def account(self, username: str) -> Account | None:
        rows = self._execute(self._get, (username,))
        return _account(rows[0]) if rows else None

    def put_account(self, account: Account) -> None:
        a = account
        self._execute(self._put, (
            a.username, a.kind.value, a.agency_ori, {r.value for r in a.roles},
            a.password_hash, a.totp_secret, a.created_at, a.created_by, a.last_used_at,
            a.last_totp_step, a.disabled_at, a.disabled_reason, a.sessions_valid_from,
            a.must_change_password, a.session_kept,
        ))  # fmt: skip
        self._execute(self._put_agency, (a.agency_ori, a.username))

    def accounts_of_agency(self, agency_ori: str) -> list[Account]:
        names = [row[0] for row in self._execute(self._of_agency, (agency_ori,))]
        found = [self.account(name) for name in names]
        return [a for a in found if a is not None and a.agency_ori == agency_ori]

    def all_accounts(self, limit: int = 1000) -> list[Account]:
        return [_account(row) for row in self._execute(self._all, (limit,))]

    def session(self, token_hash: str) -> Session | None:
        rows = self._execute(self._get_session, (token_hash,))
        return _session(rows[0]) if rows else None

    def put_session(self, session: Session, ttl_seconds: int) -> None:
        s = session
        self._execute(self._put_session, (
            s.token_hash, s.username, s.agency_ori, {r.value for r in s.roles}, s.created_at,
            s.last_seen_at, s.expires_at, max(1, ttl_seconds),
        ))  # fmt: skip

    def delete_session(self, token_hash: str) -> None:
        self._execute(self._delete_session, (token_hash,))

    def failures_since(self, username: str, since: datetime) -> int:
        rows = self._execute(self._failures, (username, since))
        return int(rows[0][0]) if rows else 0

    def add_failure(self, username: str, at: datetime, ttl_seconds: int) -> None:
        self._execute(self._add_failure, (username, at, new_id(), max(1, ttl_seconds)))

    def clear_failures(self, username: str) -> None:
        self._execute(self._clear_failures, (username,))
