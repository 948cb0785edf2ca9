"""A read's confidence from more than the recogniser's own score.

The ranking score of the best candidate (``plates.plate_candidates``) says how sure the
recogniser was of each character and how plate-like the line is. Other signs that a
read may be wrong hold for a plate of any state or country:

- ``runner_up``: the next distinct plate scored nearly as high (a B/8 or W/M toss-up
  the format prior could not settle);
- ``off_format``: the read fits no known serial format of any region (a prior, never a
  filter: vanity and foreign plates fit none);
- ``short``: characters fewer than a typical plate's (a plate cut at an edge);
- ``first_unsure``: the first pass alone was unsure, so the detector needed a second
  look or the line a second reading;
- ``changed``: the second look or the rereading changed the plate the first pass read;
- ``second_opinion_differs``: the second recogniser (PP-OCRv5), reading the line on its
  own, reads another plate (never set without one). The reader asks only when the answer
  could move the read across a confidence at which something is done with it
  (``opinion_can_matter``); a read it did not ask about counts as differing, so its
  confidence is the lower of the two it could have (differing weighs against a read),
  on the same side of each threshold.

``P(exact) = 1 / (1 + exp(-w . x))`` with ``x`` the features ``MODEL_FEATURES`` names
(the score as its log-odds) and an intercept. Which features, and ``READ_WEIGHTS``, were
chosen by ``benchmarks/ocr.py``: its cross-validation fits the weights on some folds of
the labelled development photos and scores the others, so its held-out figures are
honest. With seven misreads in 218 photos, more features only fit noise: the score and
the second recogniser's opinion were kept, the others (``FEATURES``) measured and
left out (``--features`` of the benchmark tries them).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from pipelines.ocr.confidence import ALERT_PRECISION, choose_threshold

FEATURES: Final = (
    "score",
    "runner_up",
    "off_format",
    "short",
    "first_unsure",
    "changed",
    "second_opinion_differs",
)
MODEL_FEATURES: Final = ("score", "second_opinion_differs")
# Fit by benchmarks/ocr.py on the three development sets (intercept, then MODEL_FEATURES).
READ_WEIGHTS: Final = (2.105, 1.778, -2.002)
# Plates have at least this many characters, nearly everywhere; fewer is often a cut.
TYPICAL_MIN_LENGTH = 5
# Pulls weights towards 0 so a feature no misread of the sample shows (a separable
# sample) still gets a finite weight.
RIDGE = 0.1
# Confidences this close to a decision threshold ask for the second opinion whatever it
# could say: two rounding steps of a reported confidence (4 decimals).
DECISION_MARGIN = 2e-4
_EPSILON = 1e-6


@dataclass(frozen=True)
class ReadEvidence:
    """What the reader knew about its best read when it reported it."""

    score: float
    """The best candidate's ranking score (0-1)."""
    runner_up: float
    """The next distinct plate's score as a share of the best's (0 when none)."""
    fits_format: bool
    length: int
    first_unsure: bool
    changed: bool
    second_opinion_differs: bool | None = False
    """None: not asked, as the answer could not change what is done with the read;
    counted as differing (the lower confidence)."""

    def features(self, names: Sequence[str] = MODEL_FEATURES) -> tuple[float, ...]:
        """The values of the features ``names`` (of ``FEATURES``), in that order."""
        values = dict(zip(FEATURES, self.all_features(), strict=True))
        return tuple(values[name] for name in names)

    def all_features(self) -> tuple[float, ...]:
        """Every feature's value, in ``FEATURES`` order."""
        return (
            _logit(self.score),
            min(1.0, max(0.0, self.runner_up)),
            0.0 if self.fits_format else 1.0,
            float(max(0, TYPICAL_MIN_LENGTH - self.length)),
            1.0 if self.first_unsure else 0.0,
            1.0 if self.changed else 0.0,
            0.0 if self.second_opinion_differs is False else 1.0,
        )


def probability_exact(
    evidence: ReadEvidence,
    weights: Sequence[float] = READ_WEIGHTS,
    names: Sequence[str] = MODEL_FEATURES,
) -> float:
    """The probability that the read is exact."""
    values = evidence.features(names)
    z = weights[0] + sum(w * x for w, x in zip(weights[1:], values, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def opinion_can_matter(
    evidence: ReadEvidence,
    thresholds: Sequence[float],
    weights: Sequence[float] = READ_WEIGHTS,
    names: Sequence[str] = MODEL_FEATURES,
) -> bool:
    """Whether the second opinion could move the read across one of ``thresholds``
    (confidences at which what is done with a read changes: kept at all, alerting
    without verification): its confidence if the opinion agrees and if it differs lie
    on different sides of one, or within ``DECISION_MARGIN`` of one (reported
    confidences are rounded, and compared by others on their own scale)."""
    agrees = probability_exact(
        dataclasses.replace(evidence, second_opinion_differs=False), weights, names
    )
    differs = probability_exact(
        dataclasses.replace(evidence, second_opinion_differs=True), weights, names
    )
    return any(
        (agrees >= threshold) != (differs >= threshold)
        or min(abs(agrees - threshold), abs(differs - threshold)) <= DECISION_MARGIN
        for threshold in thresholds
    )


def fit_weights(
    outcomes: Sequence[tuple[ReadEvidence, bool]],
    names: Sequence[str] = MODEL_FEATURES,
    ridge: float = RIDGE,
    iterations: int = 50,
) -> tuple[float, ...]:
    """Logistic regression of exactness on the features ``names`` (Newton's method, ridge
    on every weight but the intercept); all zero but the score's when there is nothing
    to fit (one outcome only)."""
    if not outcomes or len({exact for _, exact in outcomes}) < 2:
        return tuple(1.0 if name == "score" else 0.0 for name in ("", *names))
    x = np.array([[1.0, *evidence.features(names)] for evidence, _ in outcomes])
    y = np.array([1.0 if exact else 0.0 for _, exact in outcomes])
    penalty = np.full(x.shape[1], ridge)
    penalty[0] = 0.0
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -50.0, 50.0)))
        gradient = x.T @ (p - y) + penalty * w
        hessian = (x * (p * (1.0 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).sum()) < 1e-9:
            break
    return tuple(round(float(value), 3) for value in w)


def fit_with_threshold(
    outcomes: Sequence[tuple[ReadEvidence | None, bool]],
    names: Sequence[str] = MODEL_FEATURES,
    precision: float = ALERT_PRECISION,
) -> tuple[tuple[float, ...], float]:
    """Weights fit on ``outcomes`` and the alert threshold they give there. ``None``
    evidence is a photo with no read (confidence 0, never accepted).

    (A threshold chosen instead on confidences from weights fit without each outcome
    was tried: with so few misreads it swung to 1.0 and recall fell by half.)"""
    weights = fit_weights([(e, exact) for e, exact in outcomes if e is not None], names)
    scored = [
        (0.0 if e is None else probability_exact(e, weights, names), exact) for e, exact in outcomes
    ]
    return weights, choose_threshold(scored, precision)


def _logit(probability: float) -> float:
    clipped = min(1.0 - _EPSILON, max(_EPSILON, probability))
    return math.log(clipped / (1.0 - clipped))
