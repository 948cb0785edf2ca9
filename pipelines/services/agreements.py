"""Grant, widen, narrow, approve and revoke sharing agreements (13.824 subd. 4), each
step audited.

A change that widens what a partner gets (``schemas/sharing.py widenings``) waits for a
second person of the owning agency (an administrator or a supervisor, not its proposer)
before it is in force; meanwhile what the old and new terms have in common stays in
force, so the narrowing part of a change, like any narrowing, takes effect at once. A
new change replaces a widening still waiting; a revocation drops it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from connectors.kafka.agreements import (
    agreement_id,
    publish_agreement,
    publish_pending,
    revoke_agreement,
    terms,
    withdraw_pending,
)
from connectors.kafka.topics import make_producer
from pipelines.settings import Settings
from pipelines.stages.share import AgreementBook
from schemas import codec_for
from schemas.errors import AccessDenied, NotFound, RequestRefused
from schemas.hotlist_policy import policy_for
from schemas.records import HotlistCategory, SharingAgreement, utcnow
from schemas.sharing import PURPOSES, common_terms, widenings


def parse_categories(names: Iterable[str]) -> tuple[HotlistCategory, ...]:
    """Hotlist categories by name, any case; raises ``RequestRefused`` naming the known."""
    try:
        return tuple(HotlistCategory(name.strip().upper()) for name in names if name.strip())
    except ValueError as error:
        known = ", ".join(c.value for c in HotlistCategory)
        raise RequestRefused(f"{error}; known: {known}") from error


def parse_purposes(names: Iterable[str]) -> tuple[str, ...]:
    """Purposes by name (a search's or a list's); raises ``RequestRefused`` naming the known."""
    wanted = sorted({name.strip().lower() for name in names if name.strip()})
    unknown = [name for name in wanted if name not in PURPOSES]
    if unknown:
        raise RequestRefused(f"unknown purposes {unknown}; known: {', '.join(sorted(PURPOSES))}")
    return tuple(wanted)


@dataclass(frozen=True)
class Change:
    """What a change did: the terms in force now, and the widening waiting (if any)."""

    in_force: SharingAgreement | None
    pending: SharingAgreement | None
    widens: list[str]


def change(
    settings: Settings,
    book: AgreementBook,
    *,
    owner: str,
    partner: str,
    categories: tuple[HotlistCategory, ...],
    legal_basis: str,
    actor: str,
    share_covert: bool = False,
    share_reads: bool = False,
    excluded_purposes: tuple[str, ...] = (),
) -> Change:
    """Proposes the terms ``owner`` shares with ``partner``. A narrowing (or the same
    terms) is in force at once, approved by ``actor``; a widening waits for a second
    approver, with the common part of old and new in force meanwhile."""
    if policy_for(settings.jurisdiction_policies, owner).bars_recipient(partner):
        raise RequestRefused(f"this jurisdiction's policy bars sharing with {partner}")
    key = agreement_id(owner, partner)
    proposed = SharingAgreement(
        agreement_id=key, owner_agency_ori=owner, partner_agency_ori=partner,
        hit_categories=categories, effective_from=utcnow(), legal_basis=legal_basis,
        approved_by=actor, share_covert=share_covert, share_reads=share_reads,
        excluded_purposes=excluded_purposes,
    )  # fmt: skip
    current = book.agreement(key)
    producer = make_producer(settings, "lprx-agreements")
    codec = codec_for(settings.schema_registry_url)
    widens = widenings(current, proposed)
    if book.pending(key) is not None:
        withdraw_pending(settings, producer, codec, owner, partner, actor,
                         "the widening waiting was replaced by a new change")  # fmt: skip
        book.drop_pending(key)
    if not widens:
        publish_agreement(settings, producer, codec, proposed)  # no widening: in force now
        book.put(proposed)
        return Change(proposed, None, [])
    # The narrowing part first, at once; then the widening, waiting.
    in_force = common_terms(current, proposed)
    if current is not None and in_force is None:
        revoke_agreement(settings, producer, codec, owner, partner, actor, keep_pending=True)
        book.revoke(key)
    elif current is not None and in_force is not None and in_force != current:
        in_force = replace(in_force, effective_from=utcnow())
        publish_agreement(settings, producer, codec, in_force, actor=actor,
                          change=f"narrowed at once to {terms(in_force)}")  # fmt: skip
        book.put(in_force)
    pending = replace(proposed, approved_by="", proposed_by=actor)
    publish_pending(settings, producer, codec, pending, widens)
    book.put_pending(pending)
    return Change(in_force, pending, widens)


def approve(
    settings: Settings, book: AgreementBook, *, owner: str, partner: str, approver: str
) -> SharingAgreement:
    """The widening waiting for ``owner``'s agreement with ``partner``, in force now,
    approved by ``approver`` (not its proposer)."""
    key = agreement_id(owner, partner)
    pending = book.pending(key)
    if pending is None:
        raise NotFound(f"no change of agreement {key} waits for approval")
    if pending.proposed_by == approver:
        raise AccessDenied(
            "a widening is approved by a second person of the agency, not its proposer"
        )
    approved = replace(pending, approved_by=approver, effective_from=utcnow())
    producer = make_producer(settings, "lprx-agreements")
    codec = codec_for(settings.schema_registry_url)
    publish_agreement(settings, producer, codec, approved, actor=approver,
                      change=f"approved the widening proposed by {pending.proposed_by}: "
                      f"{terms(approved)}")  # fmt: skip
    withdraw_pending(settings, producer, codec, owner, partner, approver, None)
    book.put(approved)
    book.drop_pending(key)
    return approved


def reject(settings: Settings, book: AgreementBook, *, owner: str, partner: str,
           actor: str) -> None:  # fmt: skip
    """Drops the widening waiting; the terms in force stay as they are."""
    key = agreement_id(owner, partner)
    if book.pending(key) is None:
        raise NotFound(f"no change of agreement {key} waits for approval")
    withdraw_pending(
        settings, make_producer(settings, "lprx-agreements"),
        codec_for(settings.schema_registry_url), owner, partner, actor, "the widening was rejected",
    )  # fmt: skip
    book.drop_pending(key)


def revoke(settings: Settings, *, owner: str, partner: str, actor: str) -> None:
    """The partner receives nothing more from the owner; the revocation is audited."""
    revoke_agreement(
        settings, make_producer(settings, "lprx-agreements"),
        codec_for(settings.schema_registry_url), owner, partner, actor,
    )  # fmt: skip


# The policy in words, from the API's views of the agreements (as JSON).


def approval(a: dict[str, Any]) -> str:
    if a["status"] == "pending":
        return f"waiting (proposed by {a['proposed_by']})"
    if a["proposed_by"]:
        return f"{a['approved_by']} (proposed by {a['proposed_by']})"
    return str(a["approved_by"])


def policy_lines(agency: str, views: list[dict[str, Any]]) -> list[str]:
    """The sentences of ``lprx agreements policy`` and the console's agreements page."""
    given = [a for a in views if a["owner_agency_ori"] == agency and a["status"] == "in_force"]
    got = [a for a in views if a["partner_agency_ori"] == agency and a["status"] == "in_force"]
    waiting = [a for a in views if a["status"] == "pending"]
    lines = [f"{agency} shares with:"]
    lines += [f"  {a['partner_agency_ori']}: {_terms(a)}; since {_since(a)} UTC, under "
              f"{a['legal_basis']}, approved by {approval(a)}"
              for a in given] or ["  no agency"]  # fmt: skip
    lines.append(f"{agency} receives from:")
    lines += [f"  {a['owner_agency_ori']}: {_terms(a)}; since {_since(a)} UTC"
              for a in got] or ["  no agency"]  # fmt: skip
    if waiting:
        lines.append("Waiting for a second approver (not in force):")
        lines += [f"  {a['owner_agency_ori']} -> {a['partner_agency_ori']}: {_terms(a)}; "
                  f"adds {'; '.join(a['widens'])}; proposed by {a['proposed_by']}"
                  for a in waiting]  # fmt: skip
    return lines


def _since(a: dict[str, Any]) -> str:
    return str(a["effective_from"])[:16].replace("T", " ")


def _terms(a: dict[str, Any]) -> str:
    parts = []
    if a["hit_categories"]:
        covert = " (covert entries too)" if a["share_covert"] else ""
        parts.append(f"hits of {', '.join(a['hit_categories'])}{covert}")
    if a["share_reads"]:
        parts.append("searches of the reads")
    text = " and ".join(parts)
    if a["excluded_purposes"]:
        text += f", never for {', '.join(a['excluded_purposes'])}"
    return text
