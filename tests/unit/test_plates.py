"""Plate spellings a reader may confuse (used to find stored reads for historical hits)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from pipelines.matching.plates import confusable_key, confusable_spellings

ALPHABET = "ABCDGIOSZ0125689XY"


def brute_force(plate: str) -> set[str]:
    alphabet = set(ALPHABET) | set(plate)
    key = confusable_key(plate)
    return {
        "".join(p)
        for p in itertools.product(sorted(alphabet), repeat=len(plate))
        if confusable_key("".join(p)) == key
    }


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=4))
def test_every_spelling_with_the_same_key_when_under_the_limit(plate: str) -> None:
    spellings = confusable_spellings(plate, limit=10_000)
    assert spellings[0] == plate
    assert len(spellings) == len(set(spellings))
    assert set(spellings) == brute_force(plate)


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=9), st.integers(1, 64))
def test_the_limit_keeps_the_fewest_swaps_first(plate: str, limit: int) -> None:
    spellings = confusable_spellings(plate, limit=limit)
    assert 1 <= len(spellings) <= limit
    assert all(confusable_key(s) == confusable_key(plate) for s in spellings)
    swaps = [sum(a != b for a, b in zip(s, plate, strict=True)) for s in spellings]
    assert swaps == sorted(swaps)


def test_a_plate_without_confusables_is_only_itself() -> None:
    assert confusable_spellings("XY7") == ["XY7"]


def test_one_swap_spellings() -> None:
    assert confusable_spellings("AB1") == ["AB1", "A81", "ABI", "A8I"]
