"""Cross-validation of the plate reader for ``benchmarks/ocr.py``: the photos split into
folds (stratified by set); for each fold the knobs (``GRID``) are chosen on the other
folds, and so are the confidence model (``pipelines.ocr.evidence``) and the alert
threshold; then the held-out fold is scored with them.

Three confidences are compared on the same held-out reads: ``evidence`` (the shipped
model: the score and the read's other evidence), ``evidence_opinion_when_needed`` (the
same, the second opinion counted only where it could move the read across the fold's
alert threshold or the OCR stage's minimum, as the OCR worker asks it; elsewhere as
differing) and ``score_only`` (the earlier calibration of the score alone); each
threshold is chosen on the training folds' own fit.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.ocr import confidence, evidence, formats, onnx_engine
from pipelines.ocr.datasets import Label
from pipelines.ocr.engine import Image
from pipelines.ocr.evidence import ReadEvidence

# The knobs cross-validation chooses, and the values tried (the shipped value included).
GRID: dict[str, tuple[float, ...]] = {
    "off_format": (0.2, formats.OFF_FORMAT_WEIGHT, 0.45),
    "swap": (0.25, formats.CONFUSABLE_SWAP_WEIGHT, 0.5),
    "narrow_pitch": (0.48, formats.NARROW_PITCH, 0.56),
    "voter_weight": (0.15, onnx_engine.VOTER_WEIGHT, 0.45),
}
SHIPPED = {
    "off_format": formats.OFF_FORMAT_WEIGHT,
    "swap": formats.CONFUSABLE_SWAP_WEIGHT,
    "narrow_pitch": formats.NARROW_PITCH,
    "voter_weight": onnx_engine.VOTER_WEIGHT,
}
SEED = 20240501


@dataclass(frozen=True)
class Photo:
    set_name: str
    label: Label
    frame: Image


@dataclass(frozen=True)
class Outcome:
    exact: bool
    in_candidates: bool
    score: float
    """The best candidate's ranking score (0 when no plate was read)."""
    confidence: float
    read: str = ""
    candidates: tuple[str, ...] = ()
    evidence: ReadEvidence | None = None
    """None when no plate was read."""


@dataclass(frozen=True)
class Fit:
    """A confidence fit on training outcomes, and its alert threshold."""

    predict: Callable[[Outcome], float]
    threshold: float
    weights: tuple[float, ...]


Calibrator = Callable[[Sequence[Outcome]], Fit]


def by_evidence(
    names: Sequence[str] = evidence.MODEL_FEATURES, kept_at: float | None = None
) -> Calibrator:
    """The shipped confidence model on the features ``names``; with ``kept_at`` (the OCR
    stage's minimum confidence), the second opinion only where it could move a read
    across that or the alert threshold (``evidence.opinion_can_matter``)."""

    def calibrate(outcomes: Sequence[Outcome]) -> Fit:
        weights, threshold = evidence.fit_with_threshold(
            [(outcome.evidence, outcome.exact) for outcome in outcomes], names
        )

        def predict(outcome: Outcome) -> float:
            if outcome.evidence is None:
                return 0.0
            read = outcome.evidence
            decisions = (kept_at, threshold) if kept_at is not None else None
            if decisions and not evidence.opinion_can_matter(read, decisions, weights, names):
                read = dataclasses.replace(read, second_opinion_differs=None)
            return evidence.probability_exact(read, weights, names)

        return Fit(predict, threshold, weights)

    return calibrate


def by_score_only(outcomes: Sequence[Outcome]) -> Fit:
    read = [(outcome.score, outcome.exact) for outcome in outcomes if outcome.score > 0]
    curve = confidence.fit_calibration(read)

    def predict(outcome: Outcome) -> float:
        return confidence.calibrated(outcome.score, curve) if outcome.score > 0 else 0.0

    threshold = confidence.choose_threshold([(predict(o), o.exact) for o in outcomes])
    return Fit(predict, threshold, curve)


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    count = len(outcomes)
    top1 = sum(outcome.exact for outcome in outcomes)
    topn = sum(outcome.in_candidates for outcome in outcomes)
    return {
        "images": count,
        "top1_exact": top1,
        "top1_rate": rate(top1, count),
        "topn_exact": topn,
        "topn_rate": rate(topn, count),
    }


def at_alert_threshold(outcomes: Sequence[Outcome], threshold: float) -> dict[str, float]:
    precision, recall = confidence.at_threshold(
        [(outcome.confidence, outcome.exact) for outcome in outcomes], threshold
    )
    return {
        "alert_threshold": round(threshold, 4),
        "precision_at_alert_threshold": round(precision, 4),
        "recall_at_alert_threshold": round(recall, 4),
    }


def folds_of(photos: Sequence[Photo], folds: int) -> list[int]:
    """A fold per photo: within each set, shuffled with a fixed seed, dealt in turn."""
    assignment = [0] * len(photos)
    rng = random.Random(SEED)
    for name in dict.fromkeys(photo.set_name for photo in photos):
        members = [i for i, photo in enumerate(photos) if photo.set_name == name]
        rng.shuffle(members)
        for position, index in enumerate(members):
            assignment[index] = position % folds
    return assignment


def choose(
    results: dict[tuple[float, ...], list[Outcome]], indices: Sequence[int]
) -> tuple[float, ...]:
    """The grid point with most exact reads on ``indices``; ties go to the one nearest
    the shipped values (fewest knobs changed), so a choice needs evidence to move."""
    shipped = tuple(SHIPPED[name] for name in GRID)

    def merit(point: tuple[float, ...]) -> tuple[int, int]:
        exact = sum(results[point][i].exact for i in indices)
        changed = sum(a != b for a, b in zip(point, shipped, strict=True))
        return exact, -changed

    return max(results, key=merit)


def cross_validate(
    read_all: Callable[[dict[str, float]], list[Outcome]],
    photos: Sequence[Photo],
    folds: int,
    misses: bool = False,
    features: Sequence[str] = evidence.MODEL_FEATURES,
    kept_at: float = 0.5,
) -> dict[str, Any]:
    """``read_all`` reads every photo with the given knobs, asking every read's second
    opinion; ``features`` are those the evidence model is fit on; ``kept_at`` is the OCR
    stage's minimum confidence."""
    calibrators = {
        "evidence": by_evidence(features),
        "evidence_opinion_when_needed": by_evidence(features, kept_at),
        "score_only": by_score_only,
    }
    points = list(itertools.product(*GRID.values()))
    started = time.perf_counter()
    results = {point: read_all(dict(zip(GRID, point, strict=True))) for point in points}
    assignment = folds_of(photos, folds)
    sets = list(dict.fromkeys(photo.set_name for photo in photos))
    report: dict[str, Any] = {
        "folds": folds,
        "grid_points": len(points),
        "seconds": round(time.perf_counter() - started, 1),
        "features": list(features),
    }
    best = choose(results, range(len(photos)))
    for name, calibrator in calibrators.items():
        held_out, per_fold = _held_out(results, photos, assignment, folds, calibrator, sets)
        fit = calibrator(results[best])
        everything = _recalibrated(results[best], fit.predict)
        report[name] = {
            "held_out": {
                **summary(held_out),
                "per_set": {
                    name: {
                        **summary(_of_set(held_out, photos, name)),
                        **_pooled_at_thresholds(
                            _of_set(held_out, photos, name),
                            [f["alert_threshold"] for f in per_fold],
                            [
                                a
                                for a, p in zip(assignment, photos, strict=True)
                                if p.set_name == name
                            ],
                        ),
                    }
                    for name in sets
                },
                **_pooled_at_thresholds(
                    held_out, [f["alert_threshold"] for f in per_fold], assignment
                ),
                "brier": round(
                    statistics.fmean((o.confidence - o.exact) ** 2 for o in held_out), 4
                ),
            },
            "per_fold": per_fold,
            "chosen_on_all": {
                "knobs": dict(zip(GRID, best, strict=True)),
                "weights": fit.weights,
                **summary(results[best]),
                **at_alert_threshold(everything, fit.threshold),
            },
        }
        if misses and name == "evidence":
            report["misses"] = _misses(photos, held_out)
    report["shipped_on_all"] = summary(results[tuple(SHIPPED[name] for name in GRID)])
    return report


def _held_out(
    results: dict[tuple[float, ...], list[Outcome]],
    photos: Sequence[Photo],
    assignment: list[int],
    folds: int,
    calibrator: Calibrator,
    sets: list[str],
) -> tuple[list[Outcome], list[dict[str, Any]]]:
    held_out: list[Outcome | None] = [None] * len(photos)
    per_fold = []
    for fold in range(folds):
        train = [i for i in range(len(photos)) if assignment[i] != fold]
        test = [i for i in range(len(photos)) if assignment[i] == fold]
        point = choose(results, train)
        fit = calibrator([results[point][i] for i in train])
        scored = _recalibrated([results[point][i] for i in test], fit.predict)
        for index, outcome in zip(test, scored, strict=True):
            held_out[index] = outcome
        per_fold.append(
            {
                "fold": fold,
                "knobs": dict(zip(GRID, point, strict=True)),
                "weights": fit.weights,
                **summary(scored),
                "per_set": {
                    name: summary(
                        [o for i, o in zip(test, scored, strict=True) if photos[i].set_name == name]
                    )
                    for name in sets
                },
                **at_alert_threshold(scored, fit.threshold),
            }
        )
    return [outcome for outcome in held_out if outcome is not None], per_fold


def _recalibrated(
    outcomes: Sequence[Outcome], predict: Callable[[Outcome], float]
) -> list[Outcome]:
    return [dataclasses.replace(o, confidence=predict(o)) for o in outcomes]


def _of_set(outcomes: Sequence[Outcome], photos: Sequence[Photo], name: str) -> list[Outcome]:
    return [o for photo, o in zip(photos, outcomes, strict=True) if photo.set_name == name]


def _pooled_at_thresholds(
    outcomes: Sequence[Outcome], thresholds: list[float], assignment: Sequence[int]
) -> dict[str, float]:
    """Precision and recall over held-out reads, each against its own fold's threshold."""
    accepted = [
        outcome.exact
        for outcome, fold in zip(outcomes, assignment, strict=True)
        if outcome.confidence >= thresholds[fold]
    ]
    return {
        "precision_at_alert_threshold": round(sum(accepted) / len(accepted), 4)
        if accepted
        else 1.0,
        "recall_at_alert_threshold": rate(len(accepted), len(outcomes)),
    }


def _misses(photos: Sequence[Photo], outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """Each held-out photo read wrong: its label, what was read, the top candidates."""
    return [
        {
            "set": photo.set_name,
            "image": photo.label.image.name,
            "plate": photo.label.plate,
            "read": outcome.read,
            "confidence": round(outcome.confidence, 3),
            "candidates": list(outcome.candidates[:4]),
        }
        for photo, outcome in zip(photos, outcomes, strict=True)
        if not outcome.exact
    ]


def rate(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0
