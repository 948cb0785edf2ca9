"""The permission table, role by role: what each may do, and what it may not."""

from __future__ import annotations

import pytest

from schemas.people import AGENCY_GRANTABLE, ROLE_PERMISSIONS, Permission, Principal, Role

P = Permission
EXPECTED = {
    Role.INVESTIGATOR: {P.SEARCH_READS, P.READ_HITS, P.READ_CROPS, P.DISPOSE_HITS},
    Role.SUPERVISOR: {P.SEARCH_READS, P.READ_HITS, P.READ_CROPS, P.DISPOSE_HITS,
                      P.REVIEW_SEARCHES, P.HOLD_READS, P.APPROVE_AGREEMENTS},
    Role.AGENCY_ADMIN: {P.LOAD_HOTLISTS, P.MANAGE_AGREEMENTS, P.MANAGE_CAMERAS,
                        P.MANAGE_AGENCY_PEOPLE, P.APPROVE_AGREEMENTS},
    Role.AUDITOR: {P.READ_AUDIT, P.VERIFY_AUDIT},
    Role.OPERATOR: {P.MANAGE_AGENCIES, P.MANAGE_SERVICE_ACCOUNTS, P.READ_DEAD_LETTERS},
    Role.SERVICE: {P.READ_HITS},
}  # fmt: skip


@pytest.mark.parametrize("role", list(Role))
def test_each_role_has_exactly_its_permissions(role: Role) -> None:
    assert ROLE_PERMISSIONS[role] == EXPECTED[role]


def test_only_people_who_investigate_can_see_reads() -> None:
    data = {P.SEARCH_READS, P.READ_CROPS}
    assert {r for r in Role if ROLE_PERMISSIONS[r] & data} == {
        Role.INVESTIGATOR, Role.SUPERVISOR,
    }  # fmt: skip


def test_the_operator_has_no_access_to_reads_hits_or_audit() -> None:
    operator = Principal("op", "MN0000000", frozenset({Role.OPERATOR}), "session")
    for permission in (P.SEARCH_READS, P.READ_HITS, P.READ_CROPS, P.READ_AUDIT, P.LOAD_HOTLISTS):
        assert not operator.can(permission)


def test_roles_add_up() -> None:
    both = Principal("x", "MN0000000", frozenset({Role.AUDITOR, Role.INVESTIGATOR}), "session")
    assert both.can(P.READ_AUDIT) and both.can(P.SEARCH_READS)
    assert not both.can(P.LOAD_HOTLISTS)


def test_an_agency_admin_cannot_make_admins_or_operators() -> None:
    assert {Role.INVESTIGATOR, Role.SUPERVISOR, Role.AUDITOR} == AGENCY_GRANTABLE


def test_only_a_supervisor_holds_reads_and_only_an_auditor_verifies_the_chain() -> None:
    assert {r for r in Role if P.HOLD_READS in ROLE_PERMISSIONS[r]} == {Role.SUPERVISOR}
    assert {r for r in Role if P.VERIFY_AUDIT in ROLE_PERMISSIONS[r]} == {Role.AUDITOR}
