"""Plate formats, CTC alternatives and the confusable-character choice they make."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.ocr import ctc, formats
from pipelines.ocr.engine import TextLine
from pipelines.ocr.plates import line_readings, plate_candidates

ALPHABET = ("", *"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "-", "皖", "b", " ")
MATRIX = ctc.fold_matrix(ALPHABET)
BOX = ((500.0, 300.0), (700.0, 300.0), (700.0, 340.0), (500.0, 340.0))
# A 7-character line in a narrow North American plate font, and in a wide European one.
NARROW_BOX = ((500.0, 300.0), (605.0, 300.0), (605.0, 340.0), (500.0, 340.0))
WIDE_BOX = ((500.0, 300.0), (680.0, 300.0), (680.0, 340.0), (500.0, 340.0))


def steps(*columns: dict[str, float]) -> np.ndarray:
    """One time step per dict of symbol -> probability (the rest goes to blank)."""
    rows = np.zeros((len(columns), len(ALPHABET)), dtype=np.float32)
    for row, column in zip(rows, columns, strict=True):
        for symbol, probability in column.items():
            row[ALPHABET.index(symbol)] = probability
        row[0] = 1.0 - sum(column.values())
    return rows


def blank() -> dict[str, float]:
    return {}


def test_pattern_marks_letters_and_digits() -> None:
    assert formats.pattern("ABC1234") == "LLLDDDD"
    assert formats.pattern("7ABC123") == "DLLLDDD"


def test_zero_fits_a_letter_position() -> None:
    # Plates print O and 0 alike and lprx reports both as 0.
    assert formats.fits("B0X1234", "LLLDDDD")
    assert not formats.fits("B8X1234", "LLLDDDD")


def test_format_weight_prefers_documented_formats() -> None:
    assert formats.format_weight("7ABC123") == 1.0  # California
    assert formats.format_weight("ABC1234") == 1.0  # New York, Texas, ...
    assert formats.format_weight("AB1C2D") == 1.0  # Missouri
    assert formats.format_weight("A1B2C3D4") == formats.OFF_FORMAT_WEIGHT


def test_known_patterns_by_region() -> None:
    assert formats.known_patterns(["CA"]) == frozenset({"DLLLDDD"})
    assert formats.known_patterns(["us-ca"]) == frozenset({"DLLLDDD"})
    assert formats.known_patterns(["br"]) == frozenset({"LLLDDDD", "LLLDLDD"})
    assert formats.known_patterns(["eu"]) >= {"LLDDDLL", "DLDDDDD", "LLDDLLL"}
    assert formats.known_patterns() >= formats.known_patterns(["us"])
    with pytest.raises(ValueError, match="unknown plate region"):
        formats.known_patterns(["atlantis"])


@given(st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=8))
def test_weight_is_one_of_two_values(plate: str) -> None:
    assert formats.format_weight(plate) in (1.0, formats.OFF_FORMAT_WEIGHT)


def test_fold_maps_lower_case_separators_and_glyphs() -> None:
    folded = ctc.fold(steps({"b": 0.9}, {"-": 0.9}, {"皖": 0.9}), MATRIX)
    assert folded.shape == (3, 38)
    np.testing.assert_allclose(folded.sum(axis=1), 1.0, rtol=1e-5)
    assert folded[0].argmax() == 2 + ctc.PLATE_ALPHABET.index("B")
    assert folded[1].argmax() == 0  # a dash is no character
    assert folded[2].argmax() == 1  # a glyph that cannot be on a plate


def test_repeated_characters_need_a_blank_between() -> None:
    probabilities = steps({"4": 0.9}, {"4": 0.9}, blank(), {"4": 0.9})
    assert ctc.plate_strings(probabilities, MATRIX, 1)[0][0] == "44"


def test_alternatives_carry_the_confusable_character() -> None:
    probabilities = steps({"8": 0.55, "B": 0.4}, blank(), {"D": 0.95}, blank(), {"J": 0.95})
    strings = dict(ctc.plate_strings(probabilities, MATRIX, 5))
    assert set(strings) >= {"8DJ", "BDJ"}
    assert strings["8DJ"] > strings["BDJ"]


def test_a_glyph_no_plate_has_is_read_as_what_it_half_resembles() -> None:
    # A worn "F" read as a CJK glyph: the recogniser half-saw an "F" (or an "E") there.
    glyph = {"皖": 0.9, "F": 0.03, "E": 0.01}
    probabilities = steps(glyph, blank(), {"K": 0.95}, blank(), {"4": 0.95})
    strings = dict(ctc.plate_strings(probabilities, MATRIX, 5))
    assert strings["FK4"] > strings["EK4"]
    # The glyph (not blank: 0.94) is a character OTHER_AS_CHARACTER of the time, an "F"
    # 3/4 of that (0.03 of the 0.04 it half-saw as plate characters).
    there = ctc.OTHER_AS_CHARACTER * 0.94
    assert strings["FK4"] == pytest.approx(there * 0.75 * 0.95 * 0.95, rel=1e-3)
    assert strings["K4"] == pytest.approx((1 - there) * 0.95 * 0.95, rel=1e-3)


def test_an_unsure_character_may_be_absent() -> None:
    probabilities = steps({"A": 0.95}, blank(), {"L": 0.5, "4": 0.1}, blank(), {"B": 0.95})
    strings = [text for text, _ in ctc.plate_strings(probabilities, MATRIX, 5)]
    assert "AB" in strings and "ALB" in strings


@given(st.lists(st.integers(min_value=0, max_value=len(ALPHABET) - 1), max_size=30))
def test_best_strings_are_ranked_and_plate_alphabet(indices: list[int]) -> None:
    probabilities = np.full((len(indices), len(ALPHABET)), 0.01, dtype=np.float32)
    for row, index in zip(probabilities, indices, strict=True):
        row[index] = 1.0
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    strings = ctc.plate_strings(probabilities, MATRIX, 6)
    scores = [score for _, score in strings]
    assert scores == sorted(scores, reverse=True)
    assert len({text for text, _ in strings}) == len(strings)
    assert all(set(text) <= set(ctc.PLATE_ALPHABET) for text, _ in strings)
    assert all(0.0 <= score <= 1.0 for score in scores)


def test_format_resolves_a_confusable_the_recogniser_was_unsure_of() -> None:
    # On a narrow-font line "LGLS168" fits no format; "4GLS168" is California's 1ABC234.
    alternatives = (("LGLS168", 0.40), ("4GLS168", 0.30))
    line = TextLine("LGLS168", 0.8, NARROW_BOX, alternatives=alternatives)
    assert plate_candidates([line], (1280, 720))[0].plate == "4GLS168"
    # On a wide-font line "LGLS168" is a German format (district LG, letters LS, 168).
    line = TextLine("LGLS168", 0.8, WIDE_BOX, alternatives=alternatives)
    assert plate_candidates([line], (1280, 720))[0].plate == "LGLS168"


def test_a_region_hint_leaves_only_that_regions_formats() -> None:
    alternatives = (("LGLS168", 0.40), ("4GLS168", 0.30))
    line = TextLine("LGLS168", 0.8, WIDE_BOX, alternatives=alternatives)
    prior = formats.FormatPrior.for_regions(["us"])
    assert plate_candidates([line], (1280, 720), prior=prior)[0].plate == "4GLS168"
    assert formats.FormatPrior.for_regions(["br"]).narrow == frozenset()
    assert formats.FormatPrior.for_regions(["us-ca"]).wide == frozenset()


def test_pitch_tells_narrow_from_wide_plate_fonts() -> None:
    prior = formats.FormatPrior()
    assert prior.narrow_share(0.40) > 0.9  # a US plate line
    assert prior.narrow_share(0.65) < 0.1  # a European or Brazilian one
    assert prior.narrow_share(None) == 0.5
    # A European format on a US-looking line counts little more than no format.
    assert prior.weight("BA268IM", 0.40) < 0.5 < 0.95 < prior.weight("BA268IM", 0.65)


def test_a_sure_off_format_read_still_wins() -> None:
    line = TextLine("CEMENT0", 0.98, BOX, alternatives=(("CEMENT0", 0.9), ("CEMENT", 0.05)))
    assert plate_candidates([line], (1280, 720))[0].plate == "CEMENT0"


def test_readings_confidence_is_per_character() -> None:
    readings = line_readings(TextLine("AB12", 0.9, BOX, alternatives=(("AB12", 0.6561),)))
    assert readings == [("AB12", 0.9)]


def test_lines_without_alternatives_read_as_before() -> None:
    assert line_readings(TextLine("krt-417", 0.9, BOX)) == [("KRT417", 0.9)]


def test_one_confusable_swap_that_fits_a_format_is_offered() -> None:
    us = formats.ALL_US_PATTERNS
    assert ("4GLS168", formats.CONFUSABLE_SWAP_WEIGHT) in formats.confusable_fits("LGLS168", us)
    assert formats.confusable_fits("4GLS168", us) == []  # already fits: nothing to swap


def test_swaps_the_recogniser_already_weighs_are_not_forced() -> None:
    # 8/B and A/4 alternatives come from the recogniser; a rule swap broke right reads.
    assert "2141BX" not in dict(formats.confusable_fits("21A1BX"))
    assert "7818B" not in dict(formats.confusable_fits("78188"))


def test_a_confident_misread_four_is_corrected_by_the_format() -> None:
    # The recogniser is sure of "L" and offers no "4"; only "4GLS168" fits a format.
    alternatives = (("LGLS168", 0.93), ("GLS168", 0.009))
    line = TextLine("LGLS168", 0.99, NARROW_BOX, alternatives=alternatives)
    assert plate_candidates([line], (1280, 720))[0].plate == "4GLS168"


def test_dropping_a_sure_character_does_not_win_by_fitting_a_format() -> None:
    # "XMW168" fits a format but needs the sure first character gone.
    line = TextLine("KXMW168", 0.99, BOX, alternatives=(("KXMW168", 0.93), ("XMW168", 0.009)))
    assert plate_candidates([line], (1280, 720))[0].plate == "KXMW168"
