"""The runtime's unit tests retry at once: the guard's first back-off is a millisecond."""

import pytest

from pipelines.runtime import guard as guard_module


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard_module, "BACKOFF_FIRST_S", 0.001)
