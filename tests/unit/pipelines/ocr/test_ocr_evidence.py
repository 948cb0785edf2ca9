"""A read's confidence from its evidence: features, the fit and the threshold. No model."""

from __future__ import annotations

import math
import random

import pytest

from pipelines.ocr import evidence
from pipelines.ocr.confidence import at_threshold
from pipelines.ocr.evidence import FEATURES, READ_WEIGHTS, ReadEvidence, probability_exact
from pipelines.ocr.formats import FormatPrior
from pipelines.ocr.plates import Candidate
from pipelines.ocr.reader import read_evidence

BOX = (0, 0, 100, 20)


def sure(**changes: object) -> ReadEvidence:
    fields: dict[str, object] = {
        "score": 0.95,
        "runner_up": 0.1,
        "fits_format": True,
        "length": 7,
        "first_unsure": False,
        "changed": False,
    }
    fields.update(changes)
    return ReadEvidence(**fields)  # type: ignore[arg-type]


def test_features_follow_their_names() -> None:
    assert len(sure().features()) == len(FEATURES) == len(READ_WEIGHTS) - 1
    score, runner_up, off_format, short, first_unsure, changed = sure(
        score=0.5, runner_up=1.3, fits_format=False, length=3, first_unsure=True, changed=True
    ).features()
    assert score == pytest.approx(0.0)
    assert runner_up == 1.0, "a share, capped"
    assert (off_format, short, first_unsure, changed) == (1.0, 2.0, 1.0, 1.0)
    assert sure(length=8).features()[3] == 0.0


def test_the_shipped_model_trusts_a_clear_winner_more_than_a_toss_up() -> None:
    assert probability_exact(sure()) > probability_exact(sure(runner_up=0.98))
    assert probability_exact(sure(score=0.99)) > probability_exact(sure(score=0.6))
    assert all(0.0 < probability_exact(sure(score=s / 10)) < 1.0 for s in range(11))


def synthetic(count: int, seed: int) -> list[tuple[ReadEvidence, bool]]:
    """Reads whose exactness depends on the score and falls with a close runner-up."""
    rng = random.Random(seed)
    outcomes = []
    for _ in range(count):
        read = sure(score=rng.uniform(0.3, 0.999), runner_up=rng.random())
        z = 1.0 + 1.5 * read.features()[0] - 4.0 * read.runner_up
        outcomes.append((read, rng.random() < 1.0 / (1.0 + math.exp(-z))))
    return outcomes


def test_the_fit_recovers_the_signs_and_sizes_of_known_weights() -> None:
    weights = evidence.fit_weights(synthetic(3000, seed=5), ridge=1e-3)
    assert weights[0] == pytest.approx(1.0, abs=0.4)
    assert weights[1] == pytest.approx(1.5, abs=0.3)
    assert weights[2] == pytest.approx(-4.0, abs=0.6)


def test_a_separable_sample_still_gives_finite_weights() -> None:
    outcomes = [(sure(), True)] * 30 + [(sure(changed=True), False)] * 5
    weights = evidence.fit_weights(outcomes)
    assert all(math.isfinite(weight) for weight in weights)
    assert (
        probability_exact(sure(), weights)
        > 0.9
        > 0.3
        > probability_exact(sure(changed=True), weights)
    )
    assert evidence.fit_weights([(sure(), True)] * 3) == READ_WEIGHTS, "nothing to fit"


def test_the_threshold_is_chosen_on_out_of_fold_confidences() -> None:
    outcomes: list[tuple[ReadEvidence | None, bool]] = [*synthetic(1500, seed=8)]
    outcomes += [(None, False)] * 20  # photos with no read
    weights, threshold = evidence.fit_with_threshold(outcomes, precision=0.95)
    held_out = [
        (0.0 if read is None else probability_exact(read, weights), exact)
        for read, exact in synthetic(1500, seed=9)
    ]
    precision, recall = at_threshold(held_out, threshold)
    assert precision >= 0.93 and recall > 0.2


def candidate(plate: str, score: float) -> Candidate:
    return Candidate(plate, score, BOX, score)


def test_the_reader_collects_the_evidence_of_its_best_read() -> None:
    prior = FormatPrior()
    found = read_evidence(
        [candidate("ABC1234", 0.8), candidate("ABC12B4", 0.6)], prior, True, False
    )
    assert found == ReadEvidence(0.8, pytest.approx(0.75), True, 7, True, False)  # type: ignore[arg-type]
    alone = read_evidence([candidate("9Z9Z9Z9Z", 0.5)], prior, False, True)
    assert (alone.runner_up, alone.fits_format, alone.length, alone.changed) == (
        0.0,
        False,
        8,
        True,
    )
