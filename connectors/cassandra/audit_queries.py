"""What the audit chain's verifier and checkpoint signer read and write.

The verifier reads as the schema owner or ``lprx_reader`` (SELECT only); the signer,
which holds the private key outside the database, writes ``audit_checkpoints``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cassandra.cluster import Session

from connectors.cassandra.audit_chain import chain_day_key
from connectors.cassandra.rows import AUDIT_COLUMNS, utc
from connectors.cassandra.session import TUPLE_ROWS, map_exceptions
from schemas.audit_chain import Checkpoint


@dataclass(frozen=True)
class StoredLink:
    """An ``audit_chain`` row: link ``seq`` and the audit_events row it points at."""

    seq: int
    event_id: str
    event_day: str
    occurred_at: datetime
    link_hash: bytes
    chain_day: str


@dataclass(frozen=True)
class ChainHead:
    chain: str
    seq: int
    link_hash: bytes
    chain_day: str


class AuditChainQueries:
    def __init__(self, session: Session, ks: str) -> None:
        self._session = session
        with map_exceptions("statement preparation"):
            prepare = session.prepare
            self._links = prepare(
                f"SELECT seq, event_id, event_day, occurred_at, link_hash FROM {ks}.audit_chain "
                "WHERE chain_day_key = ?"
            )
            self._events = prepare(
                f"SELECT {', '.join(AUDIT_COLUMNS)} FROM {ks}.audit_events WHERE day = ?"
            )
            self._heads = prepare(
                f"SELECT chain, seq, link_hash, chain_day FROM {ks}.audit_chain_heads"
            )
            self._checkpoints = prepare(
                f"SELECT chain_day, seq, link_hash, signed_at, key_id, signature "
                f"FROM {ks}.audit_checkpoints WHERE chain = ?"
            )
            self._insert_checkpoint = prepare(
                f"INSERT INTO {ks}.audit_checkpoints (chain, chain_day, seq, link_hash, "
                "signed_at, key_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?)"
            )

    def _rows(self, statement: Any, params: tuple[Any, ...]) -> list[Any]:
        with map_exceptions("read"):
            return list(self._session.execute(statement, params, execution_profile=TUPLE_ROWS))

    def links(self, chain: str, chain_day: str) -> list[StoredLink]:
        """The links chained on ``chain_day`` (UTC YYYY-MM-DD), by seq."""
        return [
            StoredLink(seq, event_id, event_day, utc(occurred_at), bytes(link), chain_day)
            for seq, event_id, event_day, occurred_at, link in self._rows(
                self._links, (chain_day_key(chain, chain_day),)
            )
        ]

    def event_rows(self, day: str) -> list[Sequence[Any]]:
        """Every ``audit_events`` row of a day, as ``AUDIT_COLUMNS`` tuples."""
        return self._rows(self._events, (day,))

    def heads(self) -> list[ChainHead]:
        return [
            ChainHead(chain, seq, bytes(link), chain_day)
            for chain, seq, link, chain_day in self._rows(self._heads, ())
        ]

    def checkpoints(self, chain: str) -> list[Checkpoint]:
        """Every signed checkpoint of a chain, by day then seq."""
        return [
            Checkpoint(chain, day, seq, bytes(link), utc(signed_at), key_id, bytes(signature))
            for day, seq, link, signed_at, key_id, signature in self._rows(
                self._checkpoints, (chain,)
            )
        ]

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        with map_exceptions("write"):
            self._session.execute(
                self._insert_checkpoint,
                (
                    checkpoint.chain, checkpoint.chain_day, checkpoint.seq,
                    checkpoint.link_hash, checkpoint.signed_at, checkpoint.key_id,
                    checkpoint.signature,
                ),
            )  # fmt: skip
