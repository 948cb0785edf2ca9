"""benchmarks/dedup_memory.py on a small run: an open pass, its read sent, is one object
the garbage collector tracks (its near index holds plain strings, not a set per
variant), and every read of a distinct plate is a pass of its own."""

from __future__ import annotations

from benchmarks.dedup_memory import run


def test_an_open_pass_is_one_tracked_object_and_under_1_5_kib() -> None:
    result = run(2000, seed=3)
    assert result["passes"] == 2000
    tracked = result["tracked_objects_per_pass"]
    assert isinstance(tracked, float) and tracked <= 1.1  # a few of the test run's own
    bytes_per_pass = result["bytes_per_pass"]
    assert isinstance(bytes_per_pass, int) and 0 < bytes_per_pass < 1536
