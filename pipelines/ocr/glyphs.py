"""Glyph heights in a recognised line, to tell plate characters from small print.

A plate's serial characters share one height. What the recogniser reads between or
beside them is often smaller: a separator dot or emblem read as "O", the small stacked
characters of a dealer or registration tab, a sticker's digits. Each CTC segment's
position in the crop is known (time steps map linearly onto its width), so the height of
the ink under it can be compared with the line's typical character height; a segment
whose glyph is much smaller keeps little chance of being a plate character, and the
plate strings without it move up.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np

from pipelines.ocr.ctc import Segment
from pipelines.ocr.engine import Image

# A glyph under this share of the line's median character height is small print: serial
# characters differ by a few percent, a separator dot or stacked tab characters by half.
SMALL_GLYPH_SHARE = 0.55
# ... and clear of the characters' top and bottom rows by this share of their height.
SMALL_GLYPH_INSET = 0.1
# A small glyph keeps this share of its chance to be a character (it may still be one:
# the binarisation can cut a faint character short).
SMALL_GLYPH_PRESENT = 0.1
# Ink blobs wider than this share of the crop are frame edges or underlines, and blobs
# shorter than this share of its height are noise: neither is a character.
_MAX_BLOB_WIDTH = 0.4
_MIN_BLOB_HEIGHT = 0.15
# Heights of at least this many segments are needed for a typical height.
_MIN_MEASURED = 3
# ... and a height for most segments: where the binarisation lost several characters
# (low contrast, shadows), the blobs it kept are fragments, not glyphs.
_MIN_MEASURED_SHARE = 0.75


def glyph_spans(crop: Image, centers: Sequence[float]) -> list[tuple[int, int] | None]:
    """Top and bottom row of the glyph under each x position (in shares of the crop's
    width), or None where there is none (a gap, or a character joined to the frame).

    Glyphs are ink blobs merged where their columns overlap, so a character that the
    binarisation broke in two ("9" with an open loop) keeps its full height. A glyph
    beside the position is not taken for it: the character after a separator dot would
    be measured as the dot.
    """
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if np.count_nonzero(ink) * 2 > ink.size:
        # Characters cover less of a line than the background does, on dark-on-light
        # and light-on-dark plates alike.
        ink = cv2.bitwise_not(ink)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    height, width = ink.shape[:2]
    glyphs: list[list[int]] = []  # left, right, top, bottom; by left edge
    for x, y, w, h, _ in sorted(stats[1:count].tolist()):
        if w >= _MAX_BLOB_WIDTH * width or h <= _MIN_BLOB_HEIGHT * height:
            continue
        if glyphs and x < glyphs[-1][1]:
            last = glyphs[-1]
            last[1], last[2], last[3] = max(last[1], x + w), min(last[2], y), max(last[3], y + h)
        else:
            glyphs.append([x, x + w, y, y + h])
    found: list[tuple[int, int] | None] = []
    for center in centers:
        column = center * width
        under = [
            (abs((left + right) / 2 - column), (top, bottom))
            for left, right, top, bottom in glyphs
            if left - 1 <= column <= right + 1
        ]
        found.append(min(under)[1] if under else None)
    return found


def damp_small_glyphs(found: Sequence[Segment], crop: Image, steps: int) -> list[Segment]:
    """``found`` (the segments of a line read from ``crop`` over ``steps`` time steps)
    with those over a small glyph inside the line's band made unlikely."""
    if steps <= 0 or not found:
        return list(found)
    centers = [(segment.start + segment.stop) / 2 / steps for segment in found]
    spans = glyph_spans(crop, centers)
    measured = [span for span in spans if span is not None]
    if len(measured) < max(_MIN_MEASURED, _MIN_MEASURED_SHARE * len(found)):
        return list(found)  # a faint or broken line: its blobs are no measure
    top = statistics.median(span[0] for span in measured)
    bottom = statistics.median(span[1] for span in measured)
    return [
        _damped(segment) if span is not None and _is_small(span, top, bottom) else segment
        for segment, span in zip(found, spans, strict=True)
    ]


def _is_small(span: tuple[int, int], top: float, bottom: float) -> bool:
    """Much shorter than the line's characters, and clear of both their top and their
    bottom: a dot, emblem or small print. A short blob on the line's top or bottom edge
    is more likely a character the binarisation cut (joined to the frame there)."""
    typical = bottom - top
    inset = SMALL_GLYPH_INSET * typical
    return (
        span[1] - span[0] < SMALL_GLYPH_SHARE * typical
        and span[0] > top + inset
        and span[1] < bottom - inset
    )


def _damped(segment: Segment) -> Segment:
    alternatives = tuple(
        (character, probability * SMALL_GLYPH_PRESENT)
        for character, probability in segment.alternatives
    )
    return replace(
        segment, alternatives=alternatives, present=segment.present * SMALL_GLYPH_PRESENT
    )
