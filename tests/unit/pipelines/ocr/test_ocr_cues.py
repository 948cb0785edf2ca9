"""A frame's own text naming the plate's region narrows the formats for that frame."""

from __future__ import annotations

import pytest

from pipelines.ocr.cues import region_cues
from pipelines.ocr.engine import TextLine
from pipelines.ocr.formats import FormatPrior
from pipelines.ocr.plates import plate_candidates

WIDE = ((500.0, 300.0), (680.0, 300.0), (680.0, 340.0), (500.0, 340.0))


def text(value: str) -> TextLine:
    return TextLine(value, 0.9, ((0.0, 0.0), (80.0, 0.0), (80.0, 12.0), (0.0, 12.0)))


@pytest.mark.parametrize(
    ("lines", "cues"),
    [
        (["TEXAS"], ("us",)),
        (["New Jersey"], ("us",)),
        (["MINNES0TA"], ("us",)),
        (["BA-SALVADOR"], ("br",)),
        (["SP·DIADEMA"], ("br",)),
        (["BRASIL"], ("br",)),
        (["SK", "PEUGEOT"], ()),
        (["XY-SOMEWHERE"], ()),  # not a Brazilian unit
        (["TEXAS", "BA-SALVADOR"], ()),  # contradicting cues count for nothing
        (["UTAHAVENUEMARKET"], ()),  # a short state name only as a whole line
    ],
)
def test_region_cues(lines: list[str], cues: tuple[str, ...]) -> None:
    assert region_cues([text(line) for line in lines]) == cues


def test_a_brazilian_city_line_makes_the_brazilian_format_win() -> None:
    # "PJ15396" fits a Nordic format; with the city line only Brazil's formats count.
    plate = TextLine("PJ15396", 0.9, WIDE, alternatives=(("PJ15396", 0.6), ("PJI5396", 0.3)))
    assert plate_candidates([plate], (1280, 720))[0].plate == "PJ15396"
    city = text("BA-SALVADOR")
    assert plate_candidates([plate, city], (1280, 720))[0].plate == "PJI5396"
    # A camera's hint is not overridden by the frame's text.
    hinted = FormatPrior.for_regions(["eu"])
    assert plate_candidates([plate, city], (1280, 720), prior=hinted)[0].plate == "PJ15396"
