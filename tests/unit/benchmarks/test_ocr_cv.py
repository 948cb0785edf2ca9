"""The OCR benchmark's cross-validation: honest held-out figures, on made-up reads."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np

from benchmarks import ocr_cv
from benchmarks.ocr_cv import GRID, Outcome, Photo
from pipelines.ocr.datasets import Label
from pipelines.ocr.evidence import ReadEvidence

FRAME = np.zeros((2, 2, 3), dtype=np.uint8)


def photos(count: int) -> list[Photo]:
    return [
        Photo("us" if i % 2 else "eu", Label(Path(f"p{i}.jpg"), f"ABC{i:03d}"), FRAME)
        for i in range(count)
    ]


def outcome(exact: bool, score: float, differs: bool) -> Outcome:
    evidence = ReadEvidence(score, 0.0, True, 7, False, False, differs)
    return Outcome(exact, exact, score, 0.0, "ABC", ("ABC",), evidence)


def reads(count: int, seed: int) -> list[Outcome]:
    """Exact unless the second recogniser disagrees, and then mostly wrong."""
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        differs = rng.random() < 0.2
        exact = rng.random() < (0.3 if differs else 0.995)
        found.append(outcome(exact, rng.uniform(0.7, 0.99), differs))
    return found


def test_held_out_figures_come_from_folds_fit_without_them() -> None:
    sample = photos(360)
    rng = random.Random(3)
    # ... and reads so unsure that they are dropped whatever the second recogniser says
    unsure = [
        outcome(rng.random() < 0.05, rng.uniform(0.01, 0.1), rng.random() < 0.5) for _ in range(60)
    ]
    outcomes = reads(300, seed=4) + unsure
    seen: list[dict[str, float]] = []

    def read_all(knobs: dict[str, float]) -> list[Outcome]:
        seen.append(knobs)
        return outcomes  # every grid point reads alike: the shipped point is chosen

    report = ocr_cv.cross_validate(read_all, sample, folds=3)
    assert len(seen) == report["grid_points"] == len(list(np.ndindex(*map(len, GRID.values()))))
    evidence = report["evidence"]["held_out"]
    score_only = report["score_only"]["held_out"]
    assert evidence["top1_exact"] == score_only["top1_exact"] == sum(o.exact for o in outcomes)
    assert set(evidence["per_set"]) == {"us", "eu"}
    # The score says nothing here and the second recogniser everything: only the
    # evidence model can keep precision with recall.
    assert evidence["precision_at_alert_threshold"] >= 0.98
    assert evidence["recall_at_alert_threshold"] > score_only["recall_at_alert_threshold"]
    assert evidence["brier"] < score_only["brier"]
    assert all(fold["weights"][2] < 0 for fold in report["evidence"]["per_fold"])
    # Asked only where it could move a read across a threshold, the opinion decides alike.
    needed = report["evidence_opinion_when_needed"]["held_out"]
    decided = ("precision_at_alert_threshold", "recall_at_alert_threshold")
    assert [needed[key] for key in decided] == [evidence[key] for key in decided]
    for name in ("us", "eu"):
        alike = needed["per_set"][name], evidence["per_set"][name]
        assert [alike[0][key] for key in decided] == [alike[1][key] for key in decided]
    assert needed["brier"] != evidence["brier"], "some opinions were not needed"


def test_each_read_is_judged_by_its_own_folds_threshold() -> None:
    held_out = [outcome(True, 0.9, False), outcome(False, 0.9, False), outcome(True, 0.9, False)]
    held_out = [
        dataclasses.replace(o, confidence=c) for o, c in zip(held_out, (0.8, 0.8, 0.6), strict=True)
    ]
    pooled = ocr_cv._pooled_at_thresholds(held_out, [0.7, 0.9], [0, 1, 0])
    # Read 0 passes fold 0's 0.7; read 1 (0.8) fails fold 1's 0.9; read 2 fails 0.7.
    assert pooled == {"precision_at_alert_threshold": 1.0, "recall_at_alert_threshold": 0.3333}
