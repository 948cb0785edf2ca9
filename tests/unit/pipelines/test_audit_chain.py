"""The audit chain's rules and its verifier: a change, an insertion and a removal are
each found, and the first bad event named."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.cassandra.audit_queries import StoredLink
from connectors.cassandra.rows import audit_day, audit_row
from connectors.security.signing import ensure_signing_key, key_id, load_signing_key
from pipelines.services.audit_chain import verify_chain
from schemas.audit_chain import (
    Checkpoint,
    canonical_event,
    checkpoint_message,
    extend,
    link_hash,
)
from schemas.records import AuditAction, AuditEvent

CHAIN = "MN9990100"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def events(n: int) -> list[AuditEvent]:
    return [
        AuditEvent(
            f"e{i}",
            T0 + timedelta(minutes=i),
            "j.doe",
            AuditAction.SEARCH,
            "query",
            f"plate=ABC{i}",
            actor_agency_ori=CHAIN,
            purpose="case 26-0001",
            details={"results": str(i)},
        )
        for i in range(1, n + 1)
    ]


def stored(batch: list[AuditEvent]) -> tuple[list[StoredLink], dict[str, tuple[Any, ...]]]:
    links = [
        StoredLink(
            link.seq,
            e.event_id,
            audit_day(e.occurred_at),
            e.occurred_at,
            link.link_hash,
            "2026-11-30",
        )
        for link, e in zip(extend(CHAIN, 0, bytes(32), batch), batch, strict=True)
    ]
    return links, {e.event_id: audit_row(e) for e in batch}


def check(links: list[StoredLink], rows: dict[str, Any], **kw: Any) -> Any:
    return verify_chain(CHAIN, "2026-11-30", "2026-11-30", links, rows,
                        kw.get("checkpoints", []), kw.get("keys", {}), kw.get("anchor"))  # fmt: skip


def test_canonical_bytes_are_sorted_json_and_stable() -> None:
    event = events(1)[0]
    text = canonical_event(event).decode()
    assert text.startswith('{"action":"SEARCH","actor":"j.doe"')
    assert canonical_event(replace(event, details={})) == canonical_event(
        replace(event, details={})
    )
    # Microseconds Avro does not keep do not change the hash.
    assert canonical_event(event) == canonical_event(
        replace(event, occurred_at=event.occurred_at + timedelta(microseconds=300))
    )


def test_a_link_covers_the_position_and_the_link_before() -> None:
    digest = bytes(range(32))
    assert link_hash(CHAIN, 1, bytes(32), digest) != link_hash(CHAIN, 2, bytes(32), digest)
    assert link_hash(CHAIN, 1, bytes(32), digest) != link_hash("MN9990200", 1, bytes(32), digest)
    with pytest.raises(ValueError):
        link_hash(CHAIN, 1, b"short", digest)


def test_an_intact_chain_verifies() -> None:
    links, rows = stored(events(5))
    result = check(links, rows)
    assert result.intact and result.events_checked == 5 and result.last_seq == 5


def test_a_changed_event_is_named() -> None:
    links, rows = stored(events(5))
    row = list(rows["e3"])
    row[6] = "just curious"  # the purpose
    rows["e3"] = tuple(row)
    result = check(links, rows)
    assert [(f.kind, f.seq, f.event_id) for f in result.findings] == [("changed", 3, "e3")]


def test_a_removed_event_is_named() -> None:
    links, rows = stored(events(5))
    del rows["e2"]
    result = check(links, rows)
    assert result.first is not None
    assert (result.first.kind, result.first.seq, result.first.event_id) == ("removed", 2, "e2")
    assert len(result.findings) == 1


def test_an_inserted_event_is_named() -> None:
    links, rows = stored(events(5))
    forged = replace(events(1)[0], event_id="forged", occurred_at=T0 + timedelta(seconds=90))
    rows["forged"] = audit_row(forged)
    result = check(links, rows)
    assert [(f.kind, f.event_id) for f in result.findings] == [("inserted", "forged")]


def test_removed_links_are_found_and_the_first_finding_comes_first() -> None:
    links, rows = stored(events(6))
    del rows["e5"]
    result = check([link for link in links if link.seq not in (2, 3)], rows)
    # The links gone, their rows left, in chain order: the rows no link points at (made
    # after link 1), the gap, the row gone.
    assert [(f.kind, f.seq, f.event_id) for f in result.findings] == [
        ("inserted", None, "e2"), ("inserted", None, "e3"), ("removed", 2, None),
        ("removed", 5, "e5"),
    ]  # fmt: skip


def signed(key: Ed25519PrivateKey, seq: int, link: bytes) -> Checkpoint:
    unsigned = Checkpoint(
        CHAIN, "2026-11-30", seq, link, T0 + timedelta(hours=1), key_id(key.public_key())
    )
    return replace(unsigned, signature=key.sign(checkpoint_message(unsigned)))


def test_checkpoints_catch_a_rewritten_or_truncated_chain_and_a_forged_signature() -> None:
    key = Ed25519PrivateKey.generate()
    keys = {key_id(key.public_key()): key.public_key()}
    batch = events(5)
    links, rows = stored(batch)
    good = signed(key, 5, links[4].link_hash)
    assert check(links, rows, checkpoints=[good], keys=keys).intact
    # The tail cut off, links and rows both: the checkpoint names the gap.
    result = check(links[:3], {k: v for k, v in rows.items() if k not in ("e4", "e5")},
                   checkpoints=[good], keys=keys)  # fmt: skip
    assert [(f.kind, f.seq) for f in result.findings] == [("removed", 4)]
    # Event 2 changed and every link after it recomputed (without the key).
    changed = [replace(batch[1], purpose="rewritten"), *batch[2:]]
    relinked = extend(CHAIN, 1, links[0].link_hash, changed)
    forged_links = links[:1] + [
        replace(links[i + 1], link_hash=new.link_hash) for i, new in enumerate(relinked)
    ]
    forged_rows = {**rows, "e2": audit_row(changed[0])}
    result = check(forged_links, forged_rows, checkpoints=[good], keys=keys)
    assert [(f.kind, f.seq) for f in result.findings] == [("changed", 5)]
    # A checkpoint re-signed by another key is refused.
    other = signed(Ed25519PrivateKey.generate(), 5, forged_links[4].link_hash)
    result = check(
        forged_links, forged_rows, checkpoints=[replace(other, key_id=good.key_id)], keys=keys
    )
    assert [f.kind for f in result.findings] == ["bad_checkpoint"]


def test_verification_from_a_checkpoint_anchors_the_first_link() -> None:
    key = Ed25519PrivateKey.generate()
    keys = {key_id(key.public_key()): key.public_key()}
    links, rows = stored(events(5))
    anchor = signed(key, 2, links[1].link_hash)
    assert check(links, rows, anchor=anchor, keys=keys).intact
    row = list(rows["e3"])
    row[3] = "someone.else"  # the actor of the first event after the anchor
    assert [
        f.seq for f in check(links, {**rows, "e3": tuple(row)}, anchor=anchor, keys=keys).findings
    ] == [3]


def test_the_signing_key_is_private_and_made_once(tmp_path: Any) -> None:
    key = ensure_signing_key(tmp_path)
    private = tmp_path / "audit" / "checkpoint-signing.key"
    assert private.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "audit" / "checkpoint-signing.pub").stat().st_mode & 0o077 == 0o044
    assert key_id(ensure_signing_key(tmp_path).public_key()) == key_id(key.public_key())
    assert key_id(load_signing_key(tmp_path).public_key()) == key_id(key.public_key())
