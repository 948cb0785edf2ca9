"""Plain rules that turn the text lines OCR found in a frame into ranked plate candidates.

A frame holds much text besides the plate: the state name and slogan on the plate, the
dealer frame, signs, a camera's timestamp overlay. A line is a candidate when, after
normalising, it has 2-8 letters and digits (``schemas/plates.py`` says why 8) with
at least one digit and is not a state name, slogan or make badge; only when no line is,
all-letter lines of 4 or more (vanity plates) are candidates. Candidates are ranked by
the recogniser's confidence
weighted by how plate-like the line is: plates are usually the tallest such line, near
the middle of the frame, mixing letters and digits.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from pipelines.ocr.cues import US_STATES, region_cues
from pipelines.ocr.engine import Box, TextLine
from pipelines.ocr.formats import DEFAULT_PRIOR, FormatPrior
from schemas.plates import MIN_PLATE_LENGTH, OCR_DIGIT_AS_LETTER, OCR_MAX_PLATE_LENGTH

# All-letter plates are vanity plates: shorter letter runs are more often words or badges.
MIN_LETTERS_ONLY_LENGTH = 4
DEFAULT_TOP_N = 5

# Separators printed on plates or read between characters: dropped without penalty.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015_.,·•∙・:;'\"`~|/\\()\[\]{}*+=]")
# Anything else that is not A-Z/0-9 (a CJK glyph, a symbol) is a misread character.
_NOT_PLATE_CHARACTER = re.compile(r"[^A-Z0-9]")
# A misread character is dropped, and the read trusted less for it.
_MISREAD_PENALTY = 0.6

# Slogans and other words printed on plates and plate frames (5+ letters, so that
# short vanity plates are not mistaken for them).
PLATE_WORDS = (
    "LAKES", "EXPLORE", "LINCOLN", "SUNSHINE", "EMPIRE", "GARDEN", "STATE", "GOLDEN",
    "GRANDCANYON", "LONESTAR", "FAMOUSPOTATOES", "KEYSTONE", "EVERGREEN", "AMERICA",
    "DAIRYLAND", "DISCOVER", "SPIRIT", "PEACE", "DEALER", "TEMPORARY", "COUNTY",
    "VEHICLE", "TRUCK", "TRAILER", "COMMERCIAL",
)  # fmt: skip
# Makes and common model badges on the back of US cars, 4+ letters (letters-only plates
# are at least that long).
VEHICLE_BADGES = frozenset((
    "ACURA", "AUDI", "BUICK", "CADILLAC", "CHEVROLET", "CHRYSLER", "DODGE", "FORD",
    "HONDA", "HYUNDAI", "INFINITI", "JEEP", "LEXUS", "LINCOLN", "MAZDA", "MERCEDES",
    "MERCURY", "MINI", "NISSAN", "PONTIAC", "PORSCHE", "SATURN", "SUBARU", "SUZUKI",
    "TESLA", "TOYOTA", "VOLVO", "VOLKSWAGEN", "ACCORD", "CIVIC", "CAMRY", "COROLLA",
    "PRIUS", "ALTIMA", "SENTRA", "MAXIMA", "ELANTRA", "SONATA", "MALIBU", "IMPALA",
    "TAHOE", "SUBURBAN", "SILVERADO", "SIERRA", "YUKON", "ESCAPE", "EXPLORER", "FOCUS",
    "FUSION", "TAURUS", "ESCORT", "RANGER", "MUSTANG", "JETTA", "PASSAT", "GOLF",
    "OUTBACK", "FORESTER", "LEGACY", "IMPREZA", "ODYSSEY", "PILOT", "SIENNA", "TACOMA",
    "TUNDRA", "HIGHLANDER", "NAVIGATOR", "GRANDCHEROKEE", "CHEROKEE", "WRANGLER",
    "LIBERTY", "CARAVAN", "CHARGER", "CHALLENGER", "DURANGO", "SPORT", "HYBRID",
    "LIMITED", "TOURING", "QUATTRO",
))  # fmt: skip
_WORDS = tuple(sorted({*US_STATES, *PLATE_WORDS}, key=len, reverse=True))
# Camera timestamp overlays (whole or cut into pieces) and phone numbers on signs.
_DATE_TIME_OR_PHONE = re.compile(
    r"(19|20)\d\d[-/.]\d"  # 2014-05-09, 2014-05-
    r"|\d[-/.]\d\d?[-/.](19|20)?\d\d\b"  # 05/09/2014, 9-07-14
    # 07:02:06; minutes are 00-59 and end there, so a sticker read as ":" between a
    # plate's groups ("1B1:9839") is not taken for a clock
    r"|\d:[0-5]\d(?!\d)"
    r"|^\W*\(?\d{3}\)?[-.\s]*\d{3}[-.\s]\d{4}\W*$"  # 314-845-5900
    r"|^\W*\d{3}-\d{4}\W*$"  # 376-8750
)


@dataclass(frozen=True)
class Candidate:
    """A plausible plate, with the recogniser's confidence (0-1) and its line's box."""

    plate: str
    confidence: float
    line_box: Box
    score: float


def normalize_plate_text(text: str) -> tuple[str, int]:
    """The plate characters of ``text`` and how many misread characters were dropped.

    Upper case, full-width forms folded (NFKC), separators removed.
    """
    folded = unicodedata.normalize("NFKC", text).upper()
    without_separators = _SEPARATORS.sub("", folded)
    plate = _NOT_PLATE_CHARACTER.sub("", without_separators)
    return plate, len(without_separators) - len(plate)


def canonical_plate(plate: str) -> str:
    """The letter O reported as the digit 0: US issuers treat them as one character (most
    do not issue O at all), and so do hotlists and plate searches. Done after the "has a
    digit" test, so a word like "METRO" does not become a plate."""
    return plate.replace("O", "0")


def is_plate_words(text: str) -> bool:
    """True for a state name, slogan or frame text ("MINNESOTA", "10,000 LAKES")."""
    folded = unicodedata.normalize("NFKC", text).upper()
    letters = sum("A" <= character <= "Z" for character in folded)
    if letters < sum(character.isdigit() for character in folded):
        return False  # mostly digits: a plate or a number, not a name
    words = re.sub(r"[^A-Z]", "", folded.translate(OCR_DIGIT_AS_LETTER))
    rest = words
    for word in _WORDS:  # longest first, so "ARKANSAS" goes before "KANSAS"
        rest = rest.replace(word, "")
    # Known words must make up most of the line: one inside longer text does not count.
    return rest != words and 2 * len(rest) <= len(words)


def is_vehicle_badge(plate: str) -> bool:
    """True for a make or model badge ("TOYOTA", "CAMRY", also read as "T0Y0TA"): text on
    the back of most cars, of a plate's length."""
    return plate.replace("0", "O").translate(OCR_DIGIT_AS_LETTER) in VEHICLE_BADGES


def is_date_time_or_phone(text: str) -> bool:
    """True for a timestamp overlay or a phone number, which pass the plate shape test."""
    return _DATE_TIME_OR_PHONE.search(unicodedata.normalize("NFKC", text)) is not None


def is_plausible_plate(plate: str, letters_only_ok: bool = False) -> bool:
    """2-8 letters and digits with at least one digit: the shape of a typical plate.
    With ``letters_only_ok``, 4-8 letters also pass (vanity plates such as "FZRULZ")."""
    if not (MIN_PLATE_LENGTH <= len(plate) <= OCR_MAX_PLATE_LENGTH and plate.isascii()):
        return False
    if not plate.isalnum():
        return False
    if any(character.isdigit() for character in plate):
        return True
    return letters_only_ok and len(plate) >= MIN_LETTERS_ONLY_LENGTH


def plate_candidates(
    lines: Iterable[TextLine],
    frame_size: tuple[int, int],
    top_n: int = DEFAULT_TOP_N,
    prior: FormatPrior = DEFAULT_PRIOR,
) -> list[Candidate]:
    """The ``top_n`` most plate-like lines, best first, one per distinct plate text.

    ``frame_size`` is (width, height) of the image the line polygons refer to; ``prior``
    the plate formats readings are weighed against.
    """
    lines = list(lines)
    if prior.follows_cues:
        cues = region_cues(lines)
        if cues:
            prior = prior.narrowed(cues)
    lines = [
        line
        for line in with_joined_pieces(lines)
        if not is_plate_words(line.text) and not is_date_time_or_phone(line.text)
    ]
    kept = _readings_of(lines, prior, letters_only_ok=False)
    if not kept:
        # No line reads with a digit: an all-letter vanity plate is the likeliest plate
        # left. Only then, since badges, dealer names and signs are letters too.
        kept = _readings_of(lines, prior, letters_only_ok=True)
    if not kept:
        return []
    tallest = max(reading.box[3] for reading in kept)
    best: dict[str, Candidate] = {}
    for plate, confidence, box, length, pitch in kept:
        score = (
            confidence
            # The format prior joins the string's probability before the per-character
            # root: a reading that fits no format must not lose to one that drops a
            # character the recogniser was sure of (the root makes dropping cheap).
            * prior.weight(plate, pitch) ** (1.0 / length)
            * size_weight(box[3], tallest)
            * position_weight(box, frame_size)
            * content_weight(plate)
        )
        if plate not in best or best[plate].score < score:
            best[plate] = Candidate(plate, round(confidence, 4), box, round(score, 4))
    return sorted(best.values(), key=lambda c: -c.score)[:top_n]


class _Reading(NamedTuple):
    plate: str
    confidence: float
    box: Box
    length: int
    """Characters the confidence was normalised over."""
    pitch: float
    """Line width per character, in line heights (``line_pitch``)."""


def _readings_of(
    lines: list[TextLine], prior: FormatPrior, letters_only_ok: bool
) -> list[_Reading]:
    kept: list[_Reading] = []
    for line in lines:
        readings = [
            (plate, confidence)
            for plate, confidence in line_readings(line, letters_only_ok, prior)
            if not is_vehicle_badge(plate)
        ]
        if readings:
            length = reading_length(line, readings)
            box = line.bounds()
            kept.extend(
                _Reading(plate, confidence, box, length, line_pitch(line, len(plate)))
                for plate, confidence in readings
            )
    return kept


def line_pitch(line: TextLine, characters: int) -> float:
    """The line's width per character in line heights, along the line (so a tilted line
    measures as a level one): narrow plate fonts give about 0.4, wide ones 0.6."""
    points = line.polygon
    if len(points) != 4:
        _, _, box_width, box_height = line.bounds()
        return box_width / max(1.0, box_height * max(1, characters))
    (x0, y0), (x1, y1), _, (x3, y3) = points
    width = math.hypot(x1 - x0, y1 - y0)
    height = math.hypot(x3 - x0, y3 - y0)
    return width / max(1.0, height * max(1, characters))


def line_readings(
    line: TextLine, letters_only_ok: bool = False, prior: FormatPrior = DEFAULT_PRIOR
) -> list[tuple[str, float]]:
    """The plausible plates a line may read as, with a 0-1 confidence each.

    With the recogniser's alternatives, each is a candidate (so "8DJ" and "BDJ" both
    compete, and the formats decide); the confidence of a reading is the geometric mean
    of its characters' probabilities, comparable to a recogniser's line confidence.
    Alternatives that give one plate (directly, through O read as 0, or through a
    confusable swap) add up: they are different paths to the same reading.
    """
    if not line.alternatives:
        plate, misread = normalize_plate_text(line.text)
        if not is_plausible_plate(plate, letters_only_ok):
            return []
        confidence = max(0.0, min(1.0, line.confidence)) * _MISREAD_PENALTY**misread
        return [(canonical_plate(plate), confidence)]
    # One root for all readings of a line (the length of its likeliest reading), so a
    # reading with a character dropped is not favoured for being shorter.
    length = max(1, len(line.alternatives[0][0]))
    masses: dict[str, float] = {}
    for text, probability in line.alternatives:
        view = _format_view(text, letters_only_ok)
        for variant, factor in ((text, 1.0), *prior.swaps(view, line_pitch(line, len(text)))):
            if not is_plausible_plate(variant, letters_only_ok):
                continue
            plate = canonical_plate(variant)
            masses[plate] = masses.get(plate, 0.0) + max(0.0, min(1.0, probability)) * factor
    return [(plate, min(1.0, mass) ** (1.0 / length)) for plate, mass in masses.items()]


def _format_view(text: str, letters_only_ok: bool) -> str:
    """The string whose confusable swaps are tried: with the letter O as the digit 0 (as
    it is reported, so "UHIFOF" can become the format-fitting "UH1F0F"), except for a
    letters-only string in the first pass, where folding O would make words ("SCHOOL")
    look like plates."""
    if letters_only_ok or any(character.isdigit() for character in text):
        return canonical_plate(text)
    return text


def reading_length(line: TextLine, readings: list[tuple[str, float]]) -> int:
    """The number of characters a line's confidences were normalised over."""
    if line.alternatives:
        return max(1, len(line.alternatives[0][0]))
    return max(1, len(readings[0][0]))


def with_joined_pieces(lines: list[TextLine]) -> list[TextLine]:
    """The lines plus each run of pieces that look like one plate split in two.

    Detectors often split a plate at its space, dash or emblem ("KRT" + "417"), more so
    when the plate is large in the image. Pieces join when they share a baseline and
    height and the gap is under about one character; the pieces themselves stay too.
    """
    pieces = sorted(lines, key=lambda line: line.bounds()[0])
    runs: list[list[TextLine]] = []
    for piece in pieces:
        run = next((run for run in runs if _continues(run[-1], piece)), None)
        if run is None:
            runs.append([piece])
        else:
            run.append(piece)
    joined = [_join(run) for run in runs if len(run) > 1]
    return [*lines, *joined]


def _continues(left: TextLine, right: TextLine) -> bool:
    lx, ly, lw, lh = left.bounds()
    rx, ry, _, rh = right.bounds()
    overlap = min(ly + lh, ry + rh) - max(ly, ry)
    gap = rx - (lx + lw)
    return (
        0.7 <= rh / lh <= 1.4
        and overlap >= 0.6 * min(lh, rh)
        and -0.2 * lh <= gap <= 1.2 * max(lh, rh)
    )


def _join(run: list[TextLine]) -> TextLine:
    boxes = [line.bounds() for line in run]
    left = min(x for x, _, _, _ in boxes)
    top = min(y for _, y, _, _ in boxes)
    right = max(x + w for x, _, w, _ in boxes)
    bottom = max(y + h for _, y, _, h in boxes)
    return TextLine(
        " ".join(line.text for line in run),
        # A joined read is only as sure as its least sure piece.
        min(line.confidence for line in run),
        ((left, top), (right, top), (right, bottom), (left, bottom)),
    )


def size_weight(height: int, tallest: int) -> float:
    """Taller lines are likelier the plate; a line half as tall keeps 3/4 of its weight."""
    return 0.5 + 0.5 * height / tallest


def position_weight(box: Box, frame_size: tuple[int, int]) -> float:
    """Cameras are aimed so plates sit near the middle; the corners hold overlays."""
    width, height = frame_size
    x, y, w, h = box
    dx = (x + w / 2 - width / 2) / (width / 2)
    dy = (y + h / 2 - height / 2) / (height / 2)
    return 1.0 - 0.3 * min(1.0, math.hypot(dx, dy) / math.sqrt(2))


def content_weight(plate: str) -> float:
    """Most plates have 5-8 characters mixing letters and digits; short or all-digit
    lines are more often street numbers, speeds or stickers."""
    length = {2: 0.4, 3: 0.6, 4: 0.85}.get(len(plate), 1.0)
    mixed = 1.0 if any(character.isalpha() for character in plate) else 0.7
    return length * mixed


def plate_box(line_box: Box, frame_size: tuple[int, int]) -> Box:
    """The plate around its character line: a US plate is 2:1 and its characters span
    about 80% of its width; clipped to the frame."""
    x, y, w, h = line_box
    plate_w = max(w * 1.25, h * 2.0)
    plate_h = max(plate_w / 2.0, h * 1.2)
    cx, cy = x + w / 2, y + h / 2
    left = max(0, int(cx - plate_w / 2))
    top = max(0, int(cy - plate_h / 2))
    right = min(frame_size[0], math.ceil(cx + plate_w / 2))
    bottom = min(frame_size[1], math.ceil(cy + plate_h / 2))
    return left, top, max(1, right - left), max(1, bottom - top)
