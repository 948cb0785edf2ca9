"""Glyph heights under a line's CTC segments: separator dots and small print are made
unlikely, plate characters are left alone. Crops are drawn with OpenCV; no model."""

from __future__ import annotations

import cv2
import numpy as np

from pipelines.ocr import glyphs
from pipelines.ocr.ctc import Segment, best_strings, segments
from pipelines.ocr.engine import Image

STEP = 8  # crop pixels per CTC time step, as for a 48 px high line


def drawn_line(
    *parts: tuple[str, float], height: int = 60, dark_on_light: bool = True
) -> tuple[Image, list[Segment]]:
    """A plate line of text ``parts`` (characters, scale), each part's characters
    vertically centred ("*" a dot), and one sure segment per character at its centre."""
    ink, paper = (20, 240) if dark_on_light else (240, 20)
    crop = np.full((height, 16 + 40 * sum(len(text) for text, _ in parts), 3), paper, np.uint8)
    found: list[Segment] = []
    x = 8
    for text, scale in parts:
        for character in text:
            if character == "*":  # a separator dot (Missouri's, say), read as a letter
                radius = round(6 * scale)
                cv2.circle(crop, (x + radius, height // 2), radius, (ink,) * 3, -1)
                step = (x + radius) // STEP
                found.append(Segment((("O", 0.9),), 0.9, step, step + 1))
                x += 2 * radius + 8
                continue
            (width, glyph_height), _ = cv2.getTextSize(
                character, cv2.FONT_HERSHEY_SIMPLEX, scale, 3
            )
            baseline = (height + glyph_height) // 2
            cv2.putText(
                crop, character, (x, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, (ink,) * 3, 3
            )
            step = (x + width // 2) // STEP
            found.append(Segment(((character, 0.95),), 0.95, step, step + 1))
            x += width + 8
    return crop[:, : x + 8], found


def kept(found: list[Segment], crop: Image) -> str:
    damped = glyphs.damp_small_glyphs(found, crop, crop.shape[1] // STEP)
    return best_strings(damped, 1)[0][0]


def test_small_print_beside_the_plate_characters_is_dropped() -> None:
    # New Jersey's small characters after the serial ("10DTM" then a small "59").
    crop, found = drawn_line(("10DTM", 1.4), ("59", 0.6))
    assert kept(found, crop) == "10DTM"


def test_a_separator_dot_read_as_a_letter_is_dropped() -> None:
    crop, found = drawn_line(("UH1*F0F", 1.4))
    assert kept(found, crop) == "UH1F0F"


def test_light_characters_on_a_dark_plate_are_measured_too() -> None:
    crop, found = drawn_line(("ABC", 1.4), ("59", 0.6), ("345", 1.4), dark_on_light=False)
    assert kept(found, crop) == "ABC345"


def test_characters_of_one_height_are_all_kept() -> None:
    crop, found = drawn_line(("7ABC123", 1.4))
    assert glyphs.damp_small_glyphs(found, crop, crop.shape[1] // STEP) == found


def test_a_short_glyph_on_the_baseline_is_not_taken_for_small_print() -> None:
    # A character cut short by the binarisation (joined to the frame above) still sits
    # on the line's baseline; only glyphs clear of both top and bottom are small print.
    crop, found = drawn_line(("ABC123", 1.4))
    top = int(np.argmax((crop[:, :, 0] < 128).any(axis=1)))
    third = found[2].start * STEP
    crop[: top + 22, third - 12 : third + 20] = 240  # "C" loses its upper part
    assert glyphs.damp_small_glyphs(found, crop, crop.shape[1] // STEP) == found


def test_a_faint_line_is_left_alone() -> None:
    crop, found = drawn_line(("ABC", 1.4), ("12", 0.6))
    blank = np.full_like(crop, 128)  # no ink at all: nothing to measure
    assert glyphs.damp_small_glyphs(found, blank, crop.shape[1] // STEP) == found


def test_a_glyph_broken_in_two_keeps_its_height() -> None:
    crop = np.full((40, 30, 3), 240, np.uint8)
    crop[8:18, 10:20] = 20  # the loop of a "9" ...
    crop[20:32, 14:20] = 20  # ... and its tail, not joined to it
    assert glyphs.glyph_spans(crop, [0.5, 0.05]) == [(8, 32), None]


def test_segments_know_their_time_steps() -> None:
    folded = np.zeros((6, 38), np.float32)
    folded[:, 0] = 1.0
    folded[2:4, 0], folded[2:4, 2 + 10] = 0.0, 1.0  # "A" over steps 2-3
    (segment,) = segments(folded)
    assert (segment.start, segment.stop) == (2, 4)
    assert segment.alternatives[0][0] == "A"
