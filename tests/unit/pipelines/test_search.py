"""Paging a partial-plate search through the scan limit: every read once, newest first."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from connectors.kafka.audit import MemoryAuditTrail
from pipelines.identity.config import ApiConfig
from pipelines.services.scope import Justification
from pipelines.services.search import ReadQuery, search_reads
from pipelines.stages.share import AgreementBook
from schemas.errors import RequestRefused
from schemas.people import Principal, Purpose, Role
from tests.unit.pipelines.api.harness import NOW, A, C, MemoryStore, agreement, read

WHY = Justification(
    Purpose.STOLEN_VEHICLE, "26-000001", "Reported stolen; owner statement on file."
)
ME = Principal("inv.c", C, frozenset({Role.INVESTIGATOR}), "session")


@pytest.mark.parametrize(("scan", "page"), [(6, 2), (8, 5), (10, 4), (50, 3), (7, 1)])
def test_pages_through_the_scan_limit_show_every_read_once(scan: int, page: int) -> None:
    rng = random.Random(scan * 100 + page)
    store = MemoryStore()
    for i in range(30):  # two agencies, over three UTC days, two at the same time
        minutes = 90.0 if i in (3, 4) else rng.uniform(0, 3 * 24 * 60)
        store.reads.append(read(f"r{i:02d}", "KRT417", A if i in (3, 4) else rng.choice([A, C]),
                                minutes))  # fmt: skip
    book = AgreementBook([agreement(A, C, reads=True, hits=False)])
    config = ApiConfig(api_search_max_scanned=scan)
    query = ReadQuery(start=NOW - timedelta(days=4), end=NOW, plate="KRT4*", limit=page)
    seen: list[str] = []
    cursor = None
    for _ in range(200):
        found = search_reads(store, MemoryAuditTrail(), book, ME,
                             ReadQuery(**{**query.__dict__, "cursor": cursor}), WHY, config)  # fmt: skip
        seen += [r.read_id for r in found.reads]
        cursor = found.next_cursor
        if cursor is None:
            break
    expected = sorted(store.reads, key=lambda r: (r.collected_at, r.read_id), reverse=True)
    assert seen == [r.read_id for r in expected]


def test_more_reads_at_one_moment_than_a_scan_is_refused_not_looped() -> None:
    store = MemoryStore([read(f"r{i}", "KRT417", C, 5) for i in range(3)])
    config = ApiConfig(api_search_max_scanned=2)
    query = ReadQuery(start=NOW - timedelta(days=1), end=NOW, plate="KRT4*", limit=5)
    first = search_reads(store, MemoryAuditTrail(), AgreementBook(), ME, query, WHY, config)
    assert first.reads == [] and first.scan_limited and first.next_cursor
    with pytest.raises(RequestRefused, match="narrow the search"):
        search_reads(store, MemoryAuditTrail(), AgreementBook(), ME,
                     ReadQuery(**{**query.__dict__, "cursor": first.next_cursor}), WHY, config)  # fmt: skip
