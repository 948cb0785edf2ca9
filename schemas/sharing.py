"""What a sharing agreement gives, and whether a change widens it (13.824 subd. 4).

A change **widens** an agreement when the partner gets anything it did not: a new
partner, a hit category added, reads or covert hits added, or a purpose no longer
excluded. A widening is in force only once a second person of the owning agency
approves it; until then the part the old and new terms have in common (``common_terms``)
is in force, so a narrowing takes effect at once. A purpose an agreement excludes (a
search's ``Purpose``, a hit entry's ``ListPurpose``) shares nothing, and a jurisdiction's
policy may bar receivers outright (``JurisdictionPolicy.excluded_recipients``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from schemas.hotlist_policy import JurisdictionPolicy, ListPurpose, policy_for
from schemas.people import Purpose
from schemas.records import SharingAgreement

PURPOSES = frozenset({*(p.value for p in Purpose), *(p.value for p in ListPurpose)})


def widenings(current: SharingAgreement | None, proposed: SharingAgreement) -> list[str]:
    """What ``proposed`` gives the partner beyond ``current``, in words (empty: none)."""
    if current is None:
        return [f"a new partner, {proposed.partner_agency_ori}"]
    found: list[str] = []
    added = [c.value for c in proposed.hit_categories if c not in current.hit_categories]
    if added:
        found.append(f"hits of {', '.join(added)}")
    if proposed.share_reads and not current.share_reads:
        found.append("searches of the reads")
    if proposed.share_covert and not current.share_covert:
        found.append("hits on covert entries")
    freed = sorted(set(current.excluded_purposes) - set(proposed.excluded_purposes))
    if freed:
        found.append(f"purposes no longer excluded: {', '.join(freed)}")
    return found


def common_terms(
    current: SharingAgreement | None, proposed: SharingAgreement
) -> SharingAgreement | None:
    """What both the current and the proposed terms give (None: nothing), under the
    current approval: what stays in force while a widening waits."""
    if current is None:
        return None
    common = replace(
        current,
        hit_categories=tuple(c for c in current.hit_categories if c in proposed.hit_categories),
        share_reads=current.share_reads and proposed.share_reads,
        share_covert=current.share_covert and proposed.share_covert,
        excluded_purposes=tuple(sorted({*current.excluded_purposes, *proposed.excluded_purposes})),
    )
    if not common.hit_categories and not common.share_reads:
        return None
    return common


def shares_for(
    agreement: SharingAgreement, purpose: str, policies: Mapping[str, JurisdictionPolicy]
) -> bool:
    """Whether the agreement shares anything for ``purpose`` with its partner, the
    owner's jurisdiction allowing that receiver."""
    if purpose in agreement.excluded_purposes:
        return False
    return not (
        policies
        and policy_for(policies, agreement.owner_agency_ori).bars_recipient(
            agreement.partner_agency_ori
        )
    )
