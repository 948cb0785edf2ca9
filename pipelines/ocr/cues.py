"""Which region a frame's plate is from, as the frame's own text tells it.

Plates print where they are from: US plates their state's name ("TEXAS", "New Jersey"),
Brazil's old grey plates their state and city ("BA-SALVADOR", "SP·DIADEMA"), Mercosur
plates "BRASIL". A frame whose text lines read so narrows the plate formats to that
region's family for the frame, unless a camera's region hint already did. A frame
without such a line (most) keeps every region's formats.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from pipelines.ocr.engine import TextLine
from schemas.plates import OCR_DIGIT_AS_LETTER

# US state names as plates print them (spaces dropped); also the words plates.py
# strips from a frame's lines.
US_STATES = (
    "ALABAMA", "ALASKA", "ARIZONA", "ARKANSAS", "CALIFORNIA", "COLORADO", "CONNECTICUT",
    "DELAWARE", "FLORIDA", "GEORGIA", "HAWAII", "IDAHO", "ILLINOIS", "INDIANA", "IOWA",
    "KANSAS", "KENTUCKY", "LOUISIANA", "MAINE", "MARYLAND", "MASSACHUSETTS", "MICHIGAN",
    "MINNESOTA", "MISSISSIPPI", "MISSOURI", "MONTANA", "NEBRASKA", "NEVADA", "NEWHAMPSHIRE",
    "NEWJERSEY", "NEWMEXICO", "NEWYORK", "NORTHCAROLINA", "NORTHDAKOTA", "OHIO", "OKLAHOMA",
    "OREGON", "PENNSYLVANIA", "RHODEISLAND", "SOUTHCAROLINA", "SOUTHDAKOTA", "TENNESSEE",
    "TEXAS", "UTAH", "VERMONT", "VIRGINIA", "WASHINGTON", "WESTVIRGINIA", "WISCONSIN",
    "WYOMING", "DISTRICTOFCOLUMBIA",
)  # fmt: skip
# The 27 Brazilian federative units, as their plates print them before the city.
BRAZIL_UNITS = frozenset((
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA",
    "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
))  # fmt: skip
# "BA-SALVADOR", "SP·DIADEMA", "BA LAURO DE FREITAS": a unit, a separator, a city name.
_BRAZIL_CITY_LINE = re.compile(r"^\W*([A-Z]{2})\s*[-·.•:]\s*[A-Z][A-Z ]{3,}\W*$")
# Names this short are too easily read in other text ("OHIO" in a word is rare, "IOWA"
# and "UTAH" are whole lines only).
_WHOLE_LINE_ONLY = frozenset(name for name in US_STATES if len(name) <= 5)


def region_cues(lines: Iterable[TextLine]) -> tuple[str, ...]:
    """The region families ("us", "br") the frame's text names; empty when it names
    none, or more than one (the cues contradict each other)."""
    found: set[str] = set()
    for line in lines:
        text = unicodedata.normalize("NFKC", line.text).upper()
        if _names_a_us_state(text):
            found.add("us")
        match = _BRAZIL_CITY_LINE.match(text)
        if (match and match.group(1) in BRAZIL_UNITS) or "BRASIL" in text.replace(" ", ""):
            found.add("br")
    return tuple(sorted(found)) if len(found) == 1 else ()


def _names_a_us_state(text: str) -> bool:
    letters = re.sub(r"[^A-Z]", "", text.translate(OCR_DIGIT_AS_LETTER))
    if letters in _WHOLE_LINE_ONLY:
        return True
    return any(name in letters for name in US_STATES if name not in _WHOLE_LINE_ONLY)
