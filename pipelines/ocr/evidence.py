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
- ``changed``: the second look or the rereading changed the plate the first pass read.

``P(exact) = 1 / (1 + exp(-w . x))`` with ``x`` the features above (the score as its
log-odds) and an intercept; ``READ_WEIGHTS`` were fit by ``benchmarks/ocr.py`` on the
labelled development photos, and its cross-validation fits them on some folds and
scores the others, so the held-out figures it prints are honest.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from pipelines.ocr.confidence import ALERT_PRECISION, choose_threshold

FEATURES: Final = ("score", "runner_up", "off_format", "short", "first_unsure", "changed")
# Fit by benchmarks/ocr.py on the three development sets (intercept first).
READ_WEIGHTS: Final = (0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0)
# Plates have at least this many characters, nearly everywhere; fewer is often a cut.
TYPICAL_MIN_LENGTH = 5
# Pulls weights towards 0 so a feature no misread of the sample shows (a separable
# sample) still gets a finite weight.
RIDGE = 0.1
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

    def features(self) -> tuple[float, ...]:
        """The model's inputs, in ``FEATURES`` order."""
        return (
            _logit(self.score),
            min(1.0, max(0.0, self.runner_up)),
            0.0 if self.fits_format else 1.0,
            float(max(0, TYPICAL_MIN_LENGTH - self.length)),
            1.0 if self.first_unsure else 0.0,
            1.0 if self.changed else 0.0,
        )


def probability_exact(evidence: ReadEvidence, weights: Sequence[float] = READ_WEIGHTS) -> float:
    """The probability that the read is exact."""
    z = weights[0] + sum(w * x for w, x in zip(weights[1:], evidence.features(), strict=True))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def fit_weights(
    outcomes: Sequence[tuple[ReadEvidence, bool]], ridge: float = RIDGE, iterations: int = 50
) -> tuple[float, ...]:
    """Logistic regression of exactness on the features (Newton's method, ridge on every
    weight but the intercept). ``READ_WEIGHTS`` when there is nothing to fit."""
    if not outcomes or len({exact for _, exact in outcomes}) < 2:
        return READ_WEIGHTS
    x = np.array([[1.0, *evidence.features()] for evidence, _ in outcomes])
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
    precision: float = ALERT_PRECISION,
    folds: int = 3,
    seed: int = 0,
) -> tuple[tuple[float, ...], float]:
    """Weights fit on every outcome, and the alert threshold chosen on confidences each
    outcome got from weights fit without it (``folds``-fold): a threshold chosen on the
    fit's own sample is too low, since the fit flatters the reads it was fit on.
    ``None`` evidence is a photo with no read (confidence 0)."""
    read = [(evidence, exact) for evidence, exact in outcomes if evidence is not None]
    weights = fit_weights(read)
    order = list(range(len(outcomes)))
    random.Random(seed).shuffle(order)
    fold_of = {index: position % folds for position, index in enumerate(order)}
    scored: list[tuple[float, bool]] = []
    for fold in range(folds):
        train = [
            (evidence, exact)
            for index, (evidence, exact) in enumerate(outcomes)
            if fold_of[index] != fold and evidence is not None
        ]
        fold_weights = fit_weights(train)
        scored += [
            (0.0 if evidence is None else probability_exact(evidence, fold_weights), exact)
            for index, (evidence, exact) in enumerate(outcomes)
            if fold_of[index] == fold
        ]
    return weights, choose_threshold(scored, precision)


def _logit(probability: float) -> float:
    clipped = min(1.0 - _EPSILON, max(_EPSILON, probability))
    return math.log(clipped / (1.0 - clipped))
