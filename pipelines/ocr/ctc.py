"""Plate strings from a recogniser's per-time-step probabilities, with alternatives.

A general text recogniser spreads its probability over thousands of symbols (CJK glyphs,
punctuation, lower case). A plate has 36: the probabilities are folded onto A-Z and 0-9
(lower case onto upper case, separators onto "no character"), decoded by CTC best path
into character segments, and each segment keeps its ranked alternatives ("8" 0.6, "B"
0.35) and the chance that it is not a character at all (a bolt, a frame edge). The
k best plate strings then follow from those alternatives (``best_strings``), to be
scored against plate formats by the caller.
"""

from __future__ import annotations

import heapq
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PLATE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NONE = 0  # column of "no character": CTC blank, space and separators
_OTHER = 1  # column of symbols that cannot be on a plate (a misread character)
_FIRST_CHARACTER = 2
_SEPARATORS = frozenset(" -_.,·•:;'\"`~|/\\()[]{}*+=\u2010\u2011\u2012\u2013\u2014\u2015")
# A segment's best alternatives kept; more only multiplies candidates that lose anyway.
ALTERNATIVES_PER_SEGMENT = 3
# Alternatives below this share of a segment are not worth a candidate.
MIN_ALTERNATIVE = 0.02
# The chance that a glyph read as no plate character (CJK, a symbol) is a plate character
# after all: as likely as not (a bolt or an emblem is the other case).
OTHER_AS_CHARACTER = 0.5


@dataclass(frozen=True)
class Segment:
    """One decoded character position: ranked (character, probability) alternatives,
    which sum to at most ``present``, the chance that a plate character is there."""

    alternatives: tuple[tuple[str, float], ...]
    present: float
    start: int = 0
    """First time step of the run (steps map linearly onto the crop's width)."""
    stop: int = 0
    """One past its last time step."""


def fold_matrix(alphabet: Sequence[str]) -> npt.NDArray[np.float32]:
    """classes x (2 + 36): a one-hot map of each recogniser class onto its column in
    [none, other, 0-9, A-Z], so folding a whole output is one matrix product."""
    matrix = np.zeros((len(alphabet), _FIRST_CHARACTER + len(PLATE_ALPHABET)), np.float32)
    for index, symbol in enumerate(alphabet):
        folded = unicodedata.normalize("NFKC", symbol).upper()
        if index == 0 or symbol == "" or symbol in _SEPARATORS or folded in _SEPARATORS:
            matrix[index, _NONE] = 1.0
        elif len(folded) == 1 and folded in PLATE_ALPHABET:
            matrix[index, _FIRST_CHARACTER + PLATE_ALPHABET.index(folded)] = 1.0
        else:
            matrix[index, _OTHER] = 1.0
    return matrix


def fold(
    probabilities: npt.NDArray[np.float32], matrix: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """time steps x classes -> time steps x (2 + 36), each row still summing to 1.

    Only the few hundred classes that fold onto "none" or a plate character are
    multiplied; "other" (thousands of CJK glyphs) is what remains of each row. A full
    product over 6,600 classes took milliseconds per line.
    """
    kept = np.flatnonzero(matrix[:, _OTHER] == 0.0)  # microseconds; not worth caching
    folded = np.asarray(probabilities[:, kept] @ matrix[kept], dtype=np.float32)
    folded[:, _OTHER] = np.maximum(0.0, 1.0 - folded.sum(axis=1))
    return folded


def plate_strings(
    probabilities: npt.NDArray[np.float32], matrix: npt.NDArray[np.float32], count: int
) -> list[tuple[str, float]]:
    """The ``count`` likeliest plate-alphabet strings of one recognised line."""
    return best_strings(segments(fold(probabilities, matrix)), count)


def segments(folded: npt.NDArray[np.float32]) -> list[Segment]:
    """CTC best path over the folded columns: runs of one character become a segment.

    A run of "other" (a glyph that is no plate character) also becomes a segment, whose
    plate alternatives are what the recogniser half-saw there.
    """
    best = folded.argmax(axis=1)
    found: list[Segment] = []
    start = 0
    for step in range(1, len(best) + 1):
        if step < len(best) and best[step] == best[start]:
            continue
        if best[start] != _NONE:
            found.append(_segment(folded[start:step], start, step))
        start = step
    return found


def _segment(run: npt.NDArray[np.float32], start: int, stop: int) -> Segment:
    # The step where the run is surest speaks for it: averaging would blur a clean
    # peak with the blank-heavy steps at the run's edges.
    peak = run[int(run[:, _NONE].argmin())]
    characters = peak[_FIRST_CHARACTER:]
    present = float(characters.sum())
    if int(peak.argmax()) == _OTHER and present > 0.0:
        # A glyph that is no plate character (a CJK glyph for a worn "F") is, on a plate
        # line, most often a plate character a general recogniser misread: what it
        # half-saw there are the alternatives, at OTHER_AS_CHARACTER of the glyph's chance.
        glyph = OTHER_AS_CHARACTER * float(1.0 - peak[_NONE])
        characters = characters * (glyph / present)
        present = glyph
    order = np.argsort(-characters)[:ALTERNATIVES_PER_SEGMENT]
    alternatives = tuple(
        (PLATE_ALPHABET[index], float(characters[index]))
        for index in order
        if characters[index] >= MIN_ALTERNATIVE
    )
    return Segment(alternatives, present, start, stop)


def best_strings(found: Sequence[Segment], count: int) -> list[tuple[str, float]]:
    """The ``count`` likeliest plate strings, likeliest first, with their probability.

    Each segment is one of its alternatives, or absent (probability ``1 - present``).
    Best-first search over per-segment choices sorted by probability.
    """
    options = [_options(segment) for segment in found]
    if not options:
        return []
    start = tuple(0 for _ in options)
    heap = [(-_log_probability(options, start), start)]
    seen = {start}
    results: list[tuple[str, float]] = []
    texts: dict[str, int] = {}
    while heap and len(results) < count:
        negative, choice = heapq.heappop(heap)
        text = "".join(options[position][picked][0] for position, picked in enumerate(choice))
        if text and text not in texts:  # two paths can give one string (a dropped char)
            texts[text] = len(results)
            results.append((text, math.exp(-negative)))
        for position in range(len(options)):
            if choice[position] + 1 < len(options[position]):
                following = (*choice[:position], choice[position] + 1, *choice[position + 1 :])
                if following not in seen:
                    seen.add(following)
                    heapq.heappush(heap, (-_log_probability(options, following), following))
    return results


def _options(segment: Segment) -> list[tuple[str, float]]:
    absent = max(1e-6, 1.0 - segment.present)
    choices = [*segment.alternatives, ("", absent)]
    return sorted(choices, key=lambda choice: -choice[1])


def _log_probability(options: list[list[tuple[str, float]]], choice: tuple[int, ...]) -> float:
    return sum(math.log(max(1e-9, options[i][picked][1])) for i, picked in enumerate(choice))
