"""The store agent's audit writes: an event not kept is counted (CJIS AU-5)."""

from __future__ import annotations

from typing import Any

import pytest


def test_audit_events_the_store_could_not_keep_are_counted_for_alerting() -> None:
    from connectors.cassandra import RowOutcome
    from connectors.prometheus import AUDIT_WRITE_FAILURES
    from pipelines.runtime.store import write_audit
    from schemas.errors import StoreUnavailable

    failures = AUDIT_WRITE_FAILURES.labels("cassandra")
    before = failures._value.get()

    class Refusing:
        def __init__(self, outcome: Any) -> None:
            self.outcome = outcome

        def write_audit(self, events: Any) -> list[RowOutcome]:
            if isinstance(self.outcome, Exception):
                raise self.outcome
            return [self.outcome for _ in events]

    events = [object(), object()]
    assert write_audit(Refusing(RowOutcome(True)), events) == [RowOutcome(True)] * 2  # type: ignore[arg-type]
    assert failures._value.get() == before
    write_audit(Refusing(RowOutcome(False, "refused")), events)  # type: ignore[arg-type]
    assert failures._value.get() == before + 2
    with pytest.raises(StoreUnavailable):
        write_audit(Refusing(StoreUnavailable("down")), events)  # type: ignore[arg-type]
    assert failures._value.get() == before + 4
