"""Proving the audit trail intact: ``lprx audit verify`` and ``lprx audit checkpoint``.

``verify_chain`` is a plain function over what Cassandra holds (links, audit rows,
signed checkpoints): it recomputes each link from the event row and the link before it,
starting at a signed checkpoint, and names what it finds, in chain order:

- **changed**: an event's row no longer gives its link's hash (or a link was rewritten
  since a checkpoint signed it);
- **removed**: a link points at an event row that is gone, links are missing between two
  others, or a checkpoint names a link past the chain's end;
- **inserted**: an audit row of the chain's agency that no link points at;
- **bad_checkpoint**: a checkpoint whose signature does not verify, or by an unknown key.

Links are loaded from the anchoring checkpoint's day to two days past the interval, so
an event chained up to two days after it happened (the store down a day) is found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from connectors.cassandra.audit_queries import ChainHead, StoredLink
from connectors.cassandra.rows import audit_from_row, utc
from connectors.kafka.audit import AuditWriter
from connectors.security.signing import key_id, signature_valid
from pipelines.services.scope import PersonAccess
from schemas.audit_chain import (
    GENESIS,
    NO_AGENCY,
    Checkpoint,
    checkpoint_message,
    event_digest,
    link_hash,
)
from schemas.people import Principal
from schemas.records import AuditAction, AuditEvent, new_id, utcnow

FindingKind = Literal["changed", "inserted", "removed", "bad_checkpoint"]
LOOK_AHEAD_DAYS = 2


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    detail: str
    seq: int | None = None
    event_id: str | None = None
    position: float = 0.0  # where in the chain it lies, for the order of findings


@dataclass
class Verification:
    chain: str
    from_day: str
    to_day: str
    anchor: str  # where the check started: a checkpoint, the chain's start, or trust
    events_checked: int = 0
    last_seq: int = 0
    checkpoints_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None


class ChainStore(Protocol):
    def links(self, chain: str, chain_day: str) -> list[StoredLink]: ...
    def event_rows(self, day: str) -> list[Sequence[Any]]: ...
    def checkpoints(self, chain: str) -> list[Checkpoint]: ...
    def heads(self) -> list[ChainHead]: ...
    def write_checkpoint(self, checkpoint: Checkpoint) -> None: ...


def days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def shift(day: str, n: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=n)).isoformat()


def verify_chain(
    chain: str,
    from_day: str,
    to_day: str,
    links: Sequence[StoredLink],
    event_rows: Mapping[str, Sequence[Any]],
    checkpoints: Sequence[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
    anchor: Checkpoint | None,
) -> Verification:
    """Checks ``links`` (from the anchor's day on) against the chain's ``event_rows``
    (by event id, the interval's and its neighbours'), from the signed ``anchor`` (or
    from the chain's start when its first link is seq 1)."""
    ordered = sorted({link.seq: link for link in links}.values(), key=lambda link: link.seq)
    prev_seq, prev_hash, start = _start(anchor, ordered, from_day)
    result = Verification(chain, from_day, to_day, start)
    findings = result.findings
    referenced: set[str] = set()
    for link in ordered:
        referenced.add(link.event_id)
        if link.seq <= prev_seq:
            continue
        if link.seq != prev_seq + 1:
            findings.append(
                Finding(
                    "removed",
                    f"links {prev_seq + 1}..{link.seq - 1} are missing (before event "
                    f"{link.event_id})",
                    prev_seq + 1,
                )
            )
            prev_hash = b""
        row = event_rows.get(link.event_id)
        if row is None:
            findings.append(
                Finding(
                    "removed",
                    f"event {link.event_id} (seq {link.seq}, {link.occurred_at:%Y-%m-%d %H:%M:%S}"
                    ") is gone from audit_events",
                    link.seq,
                    link.event_id,
                )
            )
        elif prev_hash:
            expected = _link_of_row(chain, link.seq, prev_hash, row)
            if expected != link.link_hash:
                findings.append(
                    Finding(
                        "changed",
                        f"event {link.event_id} (seq {link.seq}) no longer matches its link",
                        link.seq,
                        link.event_id,
                    )
                )
        result.events_checked += 1
        # Go on from the stored link, so one change is named once, not at every link after.
        prev_seq, prev_hash = link.seq, link.link_hash
    result.last_seq = prev_seq
    stored = {link.seq: link.link_hash for link in ordered}
    for checkpoint in checkpoints:
        if anchor is not None and checkpoint.seq <= anchor.seq:
            continue
        result.checkpoints_checked += 1
        findings.extend(_check_checkpoint(checkpoint, public_keys, stored, prev_seq))
    findings.extend(_unlinked(event_rows, referenced, from_day, to_day, ordered))
    # In chain order: an inserted row goes after the last link made before its time.
    findings.sort(key=lambda f: f.position if f.seq is None else float(f.seq))
    return result


def _start(
    anchor: Checkpoint | None, ordered: Sequence[StoredLink], from_day: str
) -> tuple[int, bytes, str]:
    """The link the check starts after: (seq, hash, in words); an empty hash: unknown."""
    if anchor is not None:
        return anchor.seq, anchor.link_hash, f"checkpoint seq {anchor.seq}"
    if ordered and ordered[0].seq == 1:
        return 0, GENESIS, "the chain's first event"
    if ordered:
        # No checkpoint before the interval: the first link is taken as stored.
        first = ordered[0].seq
        return first - 1, b"", f"seq {first}, unanchored (no checkpoint before {from_day})"
    return 0, GENESIS, "nothing chained"


def _unlinked(
    event_rows: Mapping[str, Sequence[Any]],
    referenced: set[str],
    from_day: str,
    to_day: str,
    ordered: Sequence[StoredLink],
) -> list[Finding]:
    """The interval's audit rows that no link points at."""
    found = []
    for event_id, row in event_rows.items():
        if event_id in referenced or not from_day <= row[0] <= to_day:
            continue
        when = utc(row[1])
        before = [link.seq for link in ordered if link.occurred_at <= when]
        found.append(
            Finding(
                "inserted",
                f"event {event_id} ({when:%Y-%m-%d %H:%M:%S}) is on no link of the chain",
                None,
                event_id,
                max(before, default=0) + 0.5,
            )
        )
    return found


def _link_of_row(chain: str, seq: int, previous: bytes, row: Sequence[Any]) -> bytes | None:
    try:
        event = audit_from_row(row)
    except (ValueError, TypeError):
        return None  # a value no event can have: changed
    return link_hash(chain, seq, previous, event_digest(event))


def _check_checkpoint(
    checkpoint: Checkpoint,
    public_keys: Mapping[str, Ed25519PublicKey],
    stored: Mapping[int, bytes],
    last_seq: int,
) -> list[Finding]:
    key = public_keys.get(checkpoint.key_id)
    where = f"checkpoint of seq {checkpoint.seq} ({checkpoint.chain_day})"
    if key is None:
        return [Finding("bad_checkpoint", f"{where} is signed by unknown key {checkpoint.key_id}")]
    if not signature_valid(key, checkpoint.signature, checkpoint_message(checkpoint)):
        return [Finding("bad_checkpoint", f"{where}: the signature does not verify")]
    if checkpoint.seq > last_seq:
        return [
            Finding(
                "removed",
                f"the chain ends at seq {last_seq} but {where} was signed later",
                last_seq + 1,
            )
        ]
    if checkpoint.seq in stored and stored[checkpoint.seq] != checkpoint.link_hash:
        return [
            Finding(
                "changed",
                f"the chain up to seq {checkpoint.seq} was rewritten since its {where}",
                checkpoint.seq,
            )
        ]
    return []


def load_and_verify(
    store: ChainStore,
    chain: str,
    from_day: str,
    to_day: str,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> Verification:
    """``verify_chain`` over what the store holds for the interval."""
    checkpoints = store.checkpoints(chain)
    valid_before = [
        c
        for c in checkpoints
        if c.chain_day < from_day
        and c.key_id in public_keys
        and signature_valid(public_keys[c.key_id], c.signature, checkpoint_message(c))
    ]
    anchor = max(valid_before, key=lambda c: c.seq, default=None)
    first_day = anchor.chain_day if anchor is not None else from_day
    last_day = shift(to_day, LOOK_AHEAD_DAYS)
    links = [link for day in days(first_day, last_day) for link in store.links(chain, day)]
    rows: dict[str, Sequence[Any]] = {}
    for day in days(shift(first_day, -1), last_day):
        for row in store.event_rows(day):
            if (row[4] or NO_AGENCY) == chain:
                rows[row[2]] = row
    in_range = [c for c in checkpoints if first_day <= c.chain_day <= last_day]
    return verify_chain(chain, from_day, to_day, links, rows, in_range, public_keys, anchor)


def verify_audited(
    store: ChainStore,
    trail: AuditWriter,
    principal: Principal,
    chain: str,
    from_day: str,
    to_day: str,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> Verification:
    """``load_and_verify``, the look-up audited first (reading the trail is an access).
    An auditor verifies the chain of its own agency only (``AccessDenied``, audited)."""
    access = PersonAccess(trail, principal, "audit", f"verify {chain} {from_day}..{to_day}",
                          None, {"query": "audit chain integrity check"})  # fmt: skip
    if chain != principal.agency_ori:
        raise access.deny(f"{principal.username} may verify the chain of "
                          f"{principal.agency_ori} only, not {chain}")  # fmt: skip
    access.open(justified=False)
    result = load_and_verify(store, chain, from_day, to_day, public_keys)
    access.shown([f.event_id for f in result.findings if f.event_id], result.events_checked)
    return result


def sign_checkpoints(
    store: ChainStore,
    trail: AuditWriter,
    signing_key: Ed25519PrivateKey,
    actor: str,
    now: datetime | None = None,
) -> list[Checkpoint]:
    """Signs each chain's head not signed yet (run daily); each signing is audited."""
    signed_at = now or utcnow()
    kid = key_id(signing_key.public_key())
    made = []
    for head in store.heads():
        if any(c.seq == head.seq for c in store.checkpoints(head.chain)):
            continue
        unsigned = Checkpoint(head.chain, head.chain_day, head.seq, head.link_hash, signed_at, kid)
        signature = signing_key.sign(checkpoint_message(unsigned))
        checkpoint = Checkpoint(
            head.chain, head.chain_day, head.seq, head.link_hash, signed_at, kid, signature
        )
        store.write_checkpoint(checkpoint)
        made.append(checkpoint)
        trail.record_acknowledged(
            AuditEvent(
                event_id=new_id(),
                occurred_at=signed_at,
                actor=actor,
                action=AuditAction.OTHER,
                target_kind="audit_checkpoint",
                target_id=f"{head.chain}#{head.seq}",
                actor_agency_ori=None if head.chain == NO_AGENCY else head.chain,
                details={"key_id": kid, "link_hash": head.link_hash.hex()},
            )
        )
    return made
