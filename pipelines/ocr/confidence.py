"""What a read's confidence means, and the confidence at which a read may raise an alert.

A read's reported confidence comes from ``evidence`` (the score below and other signs,
such as whether a second recogniser reads the same plate). This module holds the alert
threshold on that confidence, and the calibration of the score alone, which the reader
uses to decide on a second look before the rest of the evidence exists.

A candidate's ranking score (``plates.plate_candidates``) multiplies the recogniser's
per-character confidence by how plate-like the reading is (format, height, position,
length). The score alone is mapped onto the probability that the read is exact by a
logistic curve on the score's log-odds, ``P(exact) = 1 / (1 + exp(-(a + b *
logit(score))))``; ``a`` and ``b`` were fit on the labelled development photos (US,
Europe, Brazil), and checked on photos held out of the fit (``benchmarks/ocr.py``).

``ALERT_THRESHOLD`` is the lowest (evidence) confidence at which the development photos'
reads were exact at least ``ALERT_PRECISION`` of the time: a hit on a read below it
should be verified by a person before anyone acts on it. ``benchmarks/ocr.py`` chooses
it the same way on training folds and measures it on held-out ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

# Fit by benchmarks/ocr.py on the three development sets (see the module docstring).
CALIBRATION: Final = (0.174, 1.995)
# Reads at or above this confidence (evidence.probability_exact) were exact at least
# ALERT_PRECISION of the time on the development photos (benchmarks/ocr.py,
# "chosen_on_all" of the evidence model).
ALERT_PRECISION: Final = 0.99
ALERT_THRESHOLD: Final = 0.7717

Outcome = tuple[float, bool]
"""A read's confidence (or score) and whether it was exact."""

_EPSILON = 1e-6


def calibrated(score: float, calibration: tuple[float, float] = CALIBRATION) -> float:
    """The probability that a read with this ranking score is exact."""
    intercept, slope = calibration
    z = intercept + slope * _logit(score)
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def alert_threshold() -> float:
    """The confidence a read needs for a hit on it to alert without verification."""
    return ALERT_THRESHOLD


def fit_calibration(outcomes: Sequence[Outcome], iterations: int = 50) -> tuple[float, float]:
    """Logistic regression of exactness on the score's log-odds (Newton's method, with
    a weak ridge so that a perfectly separable sample still gives a finite curve)."""
    if not outcomes:
        return CALIBRATION
    xs = [_logit(score) for score, _ in outcomes]
    ys = [1.0 if exact else 0.0 for _, exact in outcomes]
    a, b = 0.0, 1.0
    ridge = 1e-2
    for _ in range(iterations):
        g_a = g_b = h_aa = h_ab = h_bb = 0.0
        for x, y in zip(xs, ys, strict=True):
            p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, a + b * x))))
            w = p * (1.0 - p)
            g_a += p - y
            g_b += (p - y) * x
            h_aa += w
            h_ab += w * x
            h_bb += w * x * x
        g_a += ridge * a
        g_b += ridge * (b - 1.0)
        h_aa += ridge
        h_bb += ridge
        determinant = h_aa * h_bb - h_ab * h_ab
        if abs(determinant) < 1e-12:
            break
        step_a = (h_bb * g_a - h_ab * g_b) / determinant
        step_b = (h_aa * g_b - h_ab * g_a) / determinant
        a, b = a - step_a, b - step_b
        if abs(step_a) + abs(step_b) < 1e-9:
            break
    return round(a, 3), round(b, 3)


def choose_threshold(outcomes: Sequence[Outcome], precision: float = ALERT_PRECISION) -> float:
    """The lowest confidence at which the reads at or above it are exact at least
    ``precision`` of the time (1.0 if none is, so nothing alerts unverified)."""
    ranked = sorted(outcomes, key=lambda outcome: -outcome[0])
    best = 1.0
    exact = 0
    for index, (confidence, is_exact) in enumerate(ranked, start=1):
        exact += is_exact
        following = ranked[index][0] if index < len(ranked) else -1.0
        if following == confidence:
            continue  # a threshold cannot split reads of one confidence
        if exact >= precision * index:
            best = confidence
    return best


def at_threshold(outcomes: Sequence[Outcome], threshold: float) -> tuple[float, float]:
    """Precision (share of reads at or above ``threshold`` that are exact) and recall
    (share of all photos read at or above it; a photo with no read counts as 0)."""
    if not outcomes:
        return 1.0, 0.0
    accepted = [is_exact for confidence, is_exact in outcomes if confidence >= threshold]
    precision = sum(accepted) / len(accepted) if accepted else 1.0
    return precision, len(accepted) / len(outcomes)


def _logit(probability: float) -> float:
    clipped = min(1.0 - _EPSILON, max(_EPSILON, probability))
    return math.log(clipped / (1.0 - clipped))
