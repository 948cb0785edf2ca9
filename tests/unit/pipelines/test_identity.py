"""Logins, second factor, lockout, session limits and unused accounts, on a clock the
test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from pipelines.identity.accounts import IdentityService, LoginRefused, TotpSealer
from pipelines.identity.auth import Authenticator, known_roles
from pipelines.identity.config import ApiConfig
from pipelines.identity.memory import MemoryAccounts
from schemas.errors import AccessDenied, RequestRefused
from schemas.people import Role

PASSWORD = "correct horse battery"
AGENCY = "MN0270000"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def identity(tmp_path: Path, clock: Clock) -> IdentityService:
    return IdentityService(MemoryAccounts(), TotpSealer(tmp_path / "totp.key"), ApiConfig(), clock)


def enrol(identity: IdentityService, username: str = "j.doe") -> pyotp.TOTP:
    new = identity.add_person(username, AGENCY, frozenset({Role.INVESTIGATOR}), PASSWORD, "admin")
    return pyotp.parse_uri(new.totp_uri)  # type: ignore[return-value]


def code(totp: pyotp.TOTP, clock: Clock) -> str:
    return totp.at(clock.now)


def test_a_login_needs_the_password_and_the_current_code(
    identity: IdentityService, clock: Clock
) -> None:
    totp = enrol(identity)
    token, session = identity.login("j.doe", PASSWORD, code(totp, clock))
    principal = identity.principal(token)
    assert (principal.username, principal.agency_ori, principal.roles) == (
        "j.doe", AGENCY, frozenset({Role.INVESTIGATOR}),
    )  # fmt: skip
    assert session.expires_at == clock.now + timedelta(hours=12)
    # Only the token's hash is kept.
    store = identity.store
    assert isinstance(store, MemoryAccounts)
    assert token not in store.sessions and session.token_hash in store.sessions


def test_the_password_is_kept_as_argon2id_and_the_totp_secret_sealed(
    identity: IdentityService,
) -> None:
    totp = enrol(identity)
    account = identity.store.account("j.doe")
    assert account is not None and account.password_hash.startswith("$argon2id$")
    assert account.totp_secret is not None and totp.secret not in account.totp_secret


@pytest.mark.parametrize("wrong", ["password", "code", "user"])
def test_a_wrong_factor_is_refused_without_saying_which(
    identity: IdentityService, clock: Clock, wrong: str
) -> None:
    totp = enrol(identity)
    right = code(totp, clock)
    username = "nobody" if wrong == "user" else "j.doe"
    password = "not the password" if wrong == "password" else PASSWORD
    given = f"{(int(right) + 1) % 1_000_000:06d}" if wrong == "code" else right
    with pytest.raises(LoginRefused) as refused:
        identity.login(username, password, given)
    assert str(refused.value).startswith("login refused: wrong username, password or code")
    assert refused.value.reason  # the audit's reason is specific


def test_a_code_logs_in_once(identity: IdentityService, clock: Clock) -> None:
    totp = enrol(identity)
    used = code(totp, clock)
    identity.login("j.doe", PASSWORD, used)
    clock.advance(seconds=5)
    with pytest.raises(LoginRefused) as refused:
        identity.login("j.doe", PASSWORD, used)
    assert refused.value.reason == "second factor code already used"


def test_five_failures_in_fifteen_minutes_lock_the_account(
    identity: IdentityService, clock: Clock
) -> None:
    totp = enrol(identity)
    for _ in range(5):
        with pytest.raises(LoginRefused):
            identity.login("j.doe", "wrong password!", code(totp, clock))
        clock.advance(minutes=2)
    with pytest.raises(LoginRefused) as locked:
        identity.login("j.doe", PASSWORD, code(totp, clock))
    assert locked.value.reason == "account locked: too many failed logins"
    clock.advance(minutes=15)  # the failures leave the window
    identity.login("j.doe", PASSWORD, code(totp, clock))


def test_four_failures_then_a_success_reset_the_count(
    identity: IdentityService, clock: Clock
) -> None:
    totp = enrol(identity)
    for _ in range(4):
        with pytest.raises(LoginRefused):
            identity.login("j.doe", "wrong password!", code(totp, clock))
    identity.login("j.doe", PASSWORD, code(totp, clock))
    clock.advance(seconds=31)
    with pytest.raises(LoginRefused):
        identity.login("j.doe", "wrong password!", code(totp, clock))
    clock.advance(seconds=31)
    identity.login("j.doe", PASSWORD, code(totp, clock))


def test_a_session_ends_after_30_minutes_idle(identity: IdentityService, clock: Clock) -> None:
    totp = enrol(identity)
    token, _ = identity.login("j.doe", PASSWORD, code(totp, clock))
    clock.advance(minutes=29)
    identity.principal(token)  # use keeps it alive
    clock.advance(minutes=29)
    identity.principal(token)
    clock.advance(minutes=30)
    with pytest.raises(AccessDenied, match="idle"):
        identity.principal(token)
    with pytest.raises(AccessDenied):  # and it is gone, not just refused once
        identity.principal(token)


def test_a_session_ends_12_hours_after_login_however_used(
    identity: IdentityService, clock: Clock
) -> None:
    totp = enrol(identity)
    token, _ = identity.login("j.doe", PASSWORD, code(totp, clock))
    for _ in range(24 * 2 - 1):  # every 15 minutes for 11 h 45 min
        clock.advance(minutes=15)
        identity.principal(token)
    clock.advance(minutes=15)
    with pytest.raises(AccessDenied, match="log in again"):
        identity.principal(token)


def test_logout_ends_the_session(identity: IdentityService, clock: Clock) -> None:
    totp = enrol(identity)
    token, _ = identity.login("j.doe", PASSWORD, code(totp, clock))
    identity.logout(token)
    with pytest.raises(AccessDenied):
        identity.principal(token)


def test_an_account_unused_for_90_days_is_disabled(identity: IdentityService, clock: Clock) -> None:
    totp = enrol(identity)
    identity.login("j.doe", PASSWORD, code(totp, clock))
    clock.advance(days=89)
    identity.login("j.doe", PASSWORD, code(totp, clock))  # used: the count starts again
    clock.advance(days=90, seconds=1)
    with pytest.raises(LoginRefused) as refused:
        identity.login("j.doe", PASSWORD, code(totp, clock))
    assert refused.value.reason == "account disabled: unused for too long"
    account = identity.store.account("j.doe")
    assert account is not None and not account.active


def test_disabling_an_account_ends_its_sessions(identity: IdentityService, clock: Clock) -> None:
    totp = enrol(identity)
    token, _ = identity.login("j.doe", PASSWORD, code(totp, clock))
    identity.disable("j.doe", "left the agency")
    with pytest.raises(AccessDenied, match="disabled"):
        identity.principal(token)


def test_short_passwords_and_shared_looking_usernames_are_refused(
    identity: IdentityService,
) -> None:
    with pytest.raises(RequestRefused, match="at least 12"):
        identity.add_person("j.doe", AGENCY, frozenset({Role.INVESTIGATOR}), "short", "admin")
    with pytest.raises(RequestRefused, match="username"):
        identity.add_person("J Doe", AGENCY, frozenset({Role.INVESTIGATOR}), PASSWORD, "admin")


def test_a_service_key_authenticates_its_service_only(identity: IdentityService) -> None:
    _account, key = identity.add_service("riverton-cad", AGENCY, "operator")
    principal = identity.principal(key)
    assert principal.roles == frozenset({Role.SERVICE}) and principal.via == "service"
    with pytest.raises(AccessDenied):
        identity.principal(key[:-2] + "xx")
    with pytest.raises(LoginRefused):  # a service cannot log in as a person
        identity.login("riverton-cad", key, "000000")


class Claims:
    username = "k.smith"
    agency_ori = AGENCY
    roles = frozenset({"lprx:investigator", "admin", "operator", "service"})
    expires_at = datetime(2026, 12, 1, 13, tzinfo=UTC)


class Verifier:
    def verify(self, token: str) -> Claims:
        if token != "provider-token":
            raise AccessDenied("bad token")
        return Claims()


def test_a_provider_token_goes_to_the_oidc_seam(identity: IdentityService, clock: Clock) -> None:
    auth = Authenticator(identity, Verifier(), clock)
    principal = auth.principal("provider-token")
    # "admin" is not an lprx role, and an agency's provider makes no operator or service.
    assert principal.roles == frozenset({Role.INVESTIGATOR})
    assert principal.via == "oidc"
    with pytest.raises(AccessDenied):
        auth.principal("other")
    clock.now = Claims.expires_at
    with pytest.raises(AccessDenied, match="expired"):
        auth.principal("provider-token")


def test_without_a_provider_only_lprx_tokens_count(identity: IdentityService) -> None:
    with pytest.raises(AccessDenied):
        Authenticator(identity).principal("provider-token")
    with pytest.raises(AccessDenied):
        Authenticator(identity).principal(None)
    assert known_roles(frozenset({"auditor"})) == {Role.AUDITOR}


def test_a_password_someone_else_set_is_due_for_change_until_its_holder_changes_it(
    identity: IdentityService, clock: Clock
) -> None:
    new = identity.add_person("j.new", AGENCY, frozenset({Role.INVESTIGATOR}), PASSWORD,
                              "admin", must_change_password=True)  # fmt: skip
    totp = pyotp.parse_uri(new.totp_uri)
    assert isinstance(totp, pyotp.TOTP)
    token, _ = identity.login("j.new", PASSWORD, code(totp, clock))
    assert identity.principal(token).must_change_password
    assert identity.password_change_due("j.new")
    with pytest.raises(AccessDenied):
        identity.change_password("j.new", "not the password", "my very own password")
    assert identity.principal(token).must_change_password
    identity.change_password("j.new", PASSWORD, "my very own password")
    assert not identity.principal(token).must_change_password  # the same session, at once
    password, _ = identity.reset_with_one_time_password("j.new", "admin")
    assert identity.password_change_due("j.new") and len(password) >= 24
    # A password its holder chose (the bootstrap, prompted) is not due.
    enrol(identity, "j.own")
    assert not identity.password_change_due("j.own")


def test_a_provider_login_is_never_due_for_an_lprx_password_change(
    identity: IdentityService, clock: Clock
) -> None:
    # Even if an lprx account of the same name has a change due: the IdP owns the password.
    identity.add_person(Claims.username, AGENCY, frozenset({Role.INVESTIGATOR}), PASSWORD,
                        "admin", must_change_password=True)  # fmt: skip
    assert (
        not Authenticator(identity, Verifier(), clock)
        .principal("provider-token")
        .must_change_password
    )


def test_a_password_change_ends_every_other_session_and_a_reset_every_one(
    identity: IdentityService, clock: Clock
) -> None:
    totp = enrol(identity)
    changing, _ = identity.login("j.doe", PASSWORD, code(totp, clock))
    clock.advance(seconds=30)  # a code logs in once: the next step's code
    other, _ = identity.login("j.doe", PASSWORD, code(totp, clock))
    clock.advance(seconds=5)
    identity.change_password("j.doe", PASSWORD, "my very own password", keep_token=changing)
    with pytest.raises(AccessDenied, match="change of the password"):
        identity.principal(other)
    assert identity.principal(changing).username == "j.doe"  # the changing session goes on
    store = identity.store
    assert isinstance(store, MemoryAccounts)
    assert len(store.sessions) == 1  # the ended one is gone at its first use
    clock.advance(seconds=30)
    later, _ = identity.login("j.doe", "my very own password", code(totp, clock))
    assert identity.principal(later).username == "j.doe"  # a login after the change counts
    # A reset ends every session, the one kept by the change too.
    clock.advance(seconds=1)
    identity.reset_person("j.doe", PASSWORD, "admin")
    for token in (changing, later):
        with pytest.raises(AccessDenied, match="reset of the credentials"):
            identity.principal(token)
