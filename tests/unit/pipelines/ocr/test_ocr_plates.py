"""Plate rules over OCR text lines: normalisation, filtering, ranking. No model."""

from __future__ import annotations

import pytest

from pipelines.ocr.engine import TextLine
from pipelines.ocr.plates import (
    canonical_plate,
    is_date_time_or_phone,
    is_plate_words,
    is_plausible_plate,
    normalize_plate_text,
    plate_box,
    plate_candidates,
    with_joined_pieces,
)

FRAME = (1280, 720)


def line(text: str, confidence: float, x: int, y: int, w: int, h: int) -> TextLine:
    return TextLine(text, confidence, ((x, y), (x + w, y), (x + w, y + h), (x, y + h)))


@pytest.mark.parametrize(
    ("text", "plate", "misread"),
    [
        ("abc-123", "ABC123", 0),
        ("ABC 1234", "ABC1234", 0),
        ("10·DTM", "10DTM", 0),
        ("PR2.VGM", "PR2VGM", 0),
        ("ＡＢＣ１２３", "ABC123", 0),  # full-width forms from the CJK alphabet
        ("皖K40M3L", "K40M3L", 1),  # a glyph that is no plate character
        ("", "", 0),
    ],
)
def test_normalize_plate_text(text: str, plate: str, misread: int) -> None:
    assert normalize_plate_text(text) == (plate, misread)


def test_canonical_plate_reports_letter_o_as_zero() -> None:
    assert canonical_plate("HKOE7C") == "HK0E7C"
    assert canonical_plate("ABC123") == "ABC123"


@pytest.mark.parametrize(
    "text",
    [
        "MINNESOTA",
        "Minnesota",
        "EXPLORE MINNESOTA",
        "10,000 LAKES",
        "MINNES0TA",  # a digit read for a letter
        "NewJersey11",
        "North Dakota",
        "AMERICA'S DAIRYLAND",
        "IOWA",
    ],
)
def test_state_names_and_slogans_are_words(text: str) -> None:
    assert is_plate_words(text)


@pytest.mark.parametrize("text", ["ABC1234", "KRT 417", "OHI0123", "2DA044", "UTAHAVENUEMARKET"])
def test_plates_and_other_text_are_not_words(text: str) -> None:
    assert not is_plate_words(text)


@pytest.mark.parametrize(
    ("plate", "plausible"),
    [
        ("A1", True),
        ("ABC1234", True),
        ("ABCD1234", True),
        ("12345678", True),
        ("A", False),  # too short
        ("ABCDE12345", False),  # too long: phone numbers, timestamps
        ("METRO", False),  # no digit: a word
        ("ABC-123", False),  # not normalised
    ],
)
def test_is_plausible_plate(plate: str, plausible: bool) -> None:
    assert is_plausible_plate(plate) is plausible


def test_the_plate_is_picked_out_of_the_other_text_of_a_frame() -> None:
    lines = [
        line("2024-06-14 08:42:17 LAKESIDE CAM 3", 0.99, 16, 14, 420, 26),
        line("MINNESOTA", 0.97, 580, 520, 120, 14),
        line("KRT 417", 0.93, 568, 543, 151, 33),
        line("10,000 LAKES", 0.90, 590, 585, 90, 9),
        line("314-845-5900", 0.99, 100, 300, 160, 20),
        line("METRO", 0.98, 200, 200, 150, 40),
    ]
    candidates = plate_candidates(lines, FRAME)
    assert [c.plate for c in candidates] == ["KRT417"]
    assert candidates[0].confidence == pytest.approx(0.93)
    assert candidates[0].line_box == (568, 543, 151, 33)


def test_a_taller_central_line_outranks_a_small_confident_one() -> None:
    sticker = line("JUN24", 0.99, 1150, 650, 40, 10)
    plate = line("ABC123", 0.85, 600, 400, 120, 34)
    assert [c.plate for c in plate_candidates([sticker, plate], FRAME)] == ["ABC123", "JUN24"]


def test_all_digit_and_short_lines_rank_below_a_plate() -> None:
    lines = [line("74", 0.99, 600, 400, 40, 34), line("1AMW240", 0.80, 620, 500, 120, 34)]
    assert plate_candidates(lines, FRAME)[0].plate == "1AMW240"


def test_candidates_are_distinct_best_first_and_capped() -> None:
    lines = [
        line("ABC123", 0.70, 600, 400, 120, 34),
        line("ABC 123", 0.90, 600, 400, 120, 34),
        *(line(f"XY{n}", 0.5, 100 * n, 100, 60, 20) for n in range(1, 8)),
    ]
    candidates = plate_candidates(lines, FRAME, top_n=3)
    assert len(candidates) == 3
    assert candidates[0].plate == "ABC123"
    assert candidates[0].confidence == pytest.approx(0.90)
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)


def test_misread_characters_lower_the_confidence() -> None:
    (candidate,) = plate_candidates([line("皖K40M3L", 0.9, 600, 400, 120, 34)], FRAME)
    assert candidate.plate == "K40M3L"
    assert candidate.confidence < 0.9 * 0.7


def test_letter_o_is_folded_only_after_the_digit_test() -> None:
    lines = [line("METRO", 0.99, 600, 300, 120, 40), line("HKOE7C", 0.84, 600, 400, 120, 34)]
    assert [c.plate for c in plate_candidates(lines, FRAME)] == ["HK0E7C"]


def test_no_plausible_line_means_no_candidates() -> None:
    assert plate_candidates([line("MINNESOTA", 0.99, 0, 0, 100, 20)], FRAME) == []
    assert plate_candidates([], FRAME) == []


def test_plate_box_is_a_two_to_one_plate_around_its_characters() -> None:
    x, y, w, h = plate_box((568, 543, 151, 33), FRAME)
    assert x < 568 and y < 543 and x + w > 568 + 151 and y + h > 543 + 33
    assert w / h == pytest.approx(2.0, rel=0.05)


def test_plate_box_is_clipped_to_the_frame() -> None:
    x, y, w, h = plate_box((1200, 700, 80, 20), FRAME)
    assert x >= 0 and y >= 0 and x + w <= FRAME[0] and y + h <= FRAME[1]
    assert plate_box((0, 0, 10, 5), FRAME)[:2] == (0, 0)


@pytest.mark.parametrize(
    "text",
    ["2014-05-09", "2014-05-", "9-07:02:06", "2014-06-1708:42:14", "376-8750", "314-845-5900"],
)
def test_timestamps_and_phone_numbers_are_not_plates(text: str) -> None:
    assert is_date_time_or_phone(text)
    assert plate_candidates([line(text, 0.99, 600, 400, 120, 34)], FRAME) == []


@pytest.mark.parametrize(
    "text", ["KRT 417", "ABC-1234", "HDZ-771", "6HP-995", "2014", "1B1:9839", "4B3：9376"]
)
def test_plates_are_not_timestamps(text: str) -> None:
    assert not is_date_time_or_phone(text)


def test_a_plate_split_at_its_space_is_joined() -> None:
    lines = [line("KRT", 0.99, 63, 109, 228, 103), line("417", 0.97, 336, 111, 230, 100)]
    best = plate_candidates(lines, (640, 322))[0]
    assert best.plate == "KRT417"
    assert best.confidence == pytest.approx(0.97)
    assert best.line_box == (63, 109, 503, 103)


def test_lines_of_different_rows_or_sizes_are_not_joined() -> None:
    lines = [
        line("ABC", 0.99, 100, 100, 90, 30),
        line("123", 0.99, 200, 160, 90, 30),  # the row below
        line("45", 0.99, 200, 100, 30, 12),  # a sticker beside it
        line("678", 0.99, 400, 100, 90, 30),  # too far away
    ]
    assert [piece.text for piece in with_joined_pieces(lines)] == [piece.text for piece in lines]


@pytest.mark.parametrize(
    ("plate", "plausible"),
    [("FZRULZ", True), ("CEMENTO", True), ("ABC", False), ("ABC123", True), ("AB-CD", False)],
)
def test_letters_only_plates_are_plausible_only_when_asked(plate: str, plausible: bool) -> None:
    assert is_plausible_plate(plate, letters_only_ok=True) is plausible
    assert not is_plausible_plate("FZRULZ")


def test_an_all_letter_vanity_plate_is_read_when_no_line_has_a_digit() -> None:
    lines = [
        line("Music is the best", 0.94, 88, 294, 170, 29),  # too long for a plate
        line("FZRULZ", 0.99, 147, 330, 63, 21),
        line("GREAT LAKES", 0.9, 150, 352, 60, 8),
    ]
    assert [c.plate for c in plate_candidates(lines, (405, 540))] == ["FZRULZ"]


def test_letters_only_lines_never_outrank_a_plate_with_digits() -> None:
    lines = [line("TOYOTA", 0.99, 560, 300, 160, 40), line("KRT 417", 0.80, 568, 543, 151, 33)]
    assert [c.plate for c in plate_candidates(lines, FRAME)] == ["KRT417"]


def test_readings_of_one_plate_add_up() -> None:
    # "DL9EIU" fits no format: its swaps "DL9E1U" (Missouri) and "D49EIU" (New Jersey)
    # tie, but the recogniser also read "DL9E1U" itself; that evidence counts too.
    alternatives = (("DL9EIU", 0.49), ("DL9E1U", 0.08), ("0L9EIU", 0.05))
    plate = TextLine("DL9EIU", 0.84, ((657, 496), (738, 496), (738, 531), (657, 531)), alternatives)
    assert plate_candidates([plate], FRAME)[0].plate == "DL9E1U"


def test_a_letter_o_is_a_zero_when_fitting_formats() -> None:
    # A separator dot dropped, "UHIFOF" fits no format, but with O as 0 and I as 1 it
    # is Missouri's "UH1F0F" (LLDLDL); only in the letters-only pass, as it has no digit.
    # (A narrow US plate font: 6 characters in 2.3 line heights.)
    plate = TextLine("UHIFOF", 0.8, ((600, 400), (684, 400), (684, 436), (600, 436)))
    plate = plate._replace(alternatives=(("UHIFOF", 0.5),))
    assert plate_candidates([plate], FRAME)[0].plate == "UH1F0F"


@pytest.mark.parametrize("badge", ["TOYOTA", "Camry", "T0Y0TA", "SUBARU"])
def test_a_make_or_model_badge_is_not_a_vanity_plate(badge: str) -> None:
    assert plate_candidates([line(badge, 0.99, 560, 300, 160, 40)], FRAME) == []
