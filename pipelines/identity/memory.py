"""Accounts in memory, for unit tests of the identity service, the API and the console."""

from __future__ import annotations

from datetime import datetime

from schemas.people import Account, Session


class MemoryAccounts:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.sessions: dict[str, Session] = {}
        self.failures: dict[str, list[datetime]] = {}

    def account(self, username: str) -> Account | None:
        return self.accounts.get(username)

    def put_account(self, account: Account) -> None:
        self.accounts[account.username] = account

    def accounts_of_agency(self, agency_ori: str) -> list[Account]:
        return [a for a in self.accounts.values() if a.agency_ori == agency_ori]

    def session(self, token_hash: str) -> Session | None:
        return self.sessions.get(token_hash)

    def put_session(self, session: Session, ttl_seconds: int) -> None:
        self.sessions[session.token_hash] = session  # the service checks expiry by time

    def delete_session(self, token_hash: str) -> None:
        self.sessions.pop(token_hash, None)

    def failures_since(self, username: str, since: datetime) -> int:
        return sum(1 for at in self.failures.get(username, []) if at > since)

    def add_failure(self, username: str, at: datetime, ttl_seconds: int) -> None:
        self.failures.setdefault(username, []).append(at)  # counted by time, as with a TTL

    def clear_failures(self, username: str) -> None:
        self.failures.pop(username, None)
