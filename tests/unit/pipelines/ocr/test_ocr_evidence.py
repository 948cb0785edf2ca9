"""A read's confidence from its evidence: features, the fit and the threshold. No model."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest

from pipelines.ocr import evidence
from pipelines.ocr.confidence import ALERT_THRESHOLD, at_threshold
from pipelines.ocr.engine import Image, TextLine
from pipelines.ocr.evidence import (
    FEATURES,
    MODEL_FEATURES,
    READ_WEIGHTS,
    ReadEvidence,
    probability_exact,
)
from pipelines.ocr.formats import FormatPrior
from pipelines.ocr.plates import Candidate
from pipelines.ocr.reader import PlateReader, PlateReadResult, SecondOpinion, read_evidence

BOX = (0, 0, 100, 20)
FRAME = np.full((720, 1280, 3), 127, dtype=np.uint8)


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
    assert len(sure().all_features()) == len(FEATURES)
    assert len(sure().features()) == len(MODEL_FEATURES) == len(READ_WEIGHTS) - 1
    score, runner_up, off_format, short, first_unsure, changed, differs = sure(
        score=0.5, runner_up=1.3, fits_format=False, length=3, first_unsure=True, changed=True
    ).all_features()
    assert score == pytest.approx(0.0)
    assert runner_up == 1.0, "a share, capped"
    assert (off_format, short, first_unsure, changed, differs) == (1.0, 2.0, 1.0, 1.0, 0.0)
    assert sure(second_opinion_differs=True).all_features()[-1] == 1.0
    short_of_eight, score_of_eight = sure(length=8).features(["short", "score"])
    assert short_of_eight == 0.0 and score_of_eight == pytest.approx(math.log(0.95 / 0.05))


def test_the_shipped_model_trusts_a_read_the_second_recogniser_shares() -> None:
    assert probability_exact(sure()) > probability_exact(sure(second_opinion_differs=True))
    assert probability_exact(sure(score=0.99)) > probability_exact(sure(score=0.6))
    assert all(0.0 < probability_exact(sure(score=s / 10)) < 1.0 for s in range(11))


def synthetic(count: int, seed: int) -> list[tuple[ReadEvidence, bool]]:
    """Reads whose exactness depends on the score and falls with a close runner-up."""
    rng = random.Random(seed)
    outcomes = []
    for _ in range(count):
        read = sure(score=rng.uniform(0.3, 0.999), runner_up=rng.random())
        z = 1.0 + 1.5 * read.features(["score"])[0] - 4.0 * read.runner_up
        outcomes.append((read, rng.random() < 1.0 / (1.0 + math.exp(-z))))
    return outcomes


def test_the_fit_recovers_the_signs_and_sizes_of_known_weights() -> None:
    weights = evidence.fit_weights(synthetic(3000, seed=5), ["score", "runner_up"], ridge=1e-3)
    assert weights[0] == pytest.approx(1.0, abs=0.4)
    assert weights[1] == pytest.approx(1.5, abs=0.3)
    assert weights[2] == pytest.approx(-4.0, abs=0.6)


def test_a_separable_sample_still_gives_finite_weights() -> None:
    names = ["score", "changed"]
    outcomes = [(sure(), True)] * 30 + [(sure(changed=True), False)] * 5
    weights = evidence.fit_weights(outcomes, names)
    assert all(math.isfinite(weight) for weight in weights)
    sure_read = probability_exact(sure(), weights, names)
    changed_read = probability_exact(sure(changed=True), weights, names)
    assert sure_read > 0.9 > 0.3 > changed_read
    # Nothing to fit: the score alone, unweighted.
    assert evidence.fit_weights([(sure(), True)] * 3, names) == (0.0, 1.0, 0.0)


def test_the_threshold_holds_its_precision_on_other_reads_alike() -> None:
    names = ["score", "runner_up"]
    outcomes: list[tuple[ReadEvidence | None, bool]] = [*synthetic(1500, seed=8)]
    outcomes += [(None, False)] * 20  # photos with no read
    weights, threshold = evidence.fit_with_threshold(outcomes, names, precision=0.95)
    held_out = [
        (0.0 if read is None else probability_exact(read, weights, names), exact)
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


class OpinionFake:
    """A first recogniser's canned line, and a second recogniser's canned strings."""

    has_second_opinion = True

    def __init__(self, line: TextLine, opinion: tuple[tuple[str, float], ...]) -> None:
        self.line = line
        self.opinion = opinion
        self.asked: list[TextLine] = []

    def recognize(self, image: Image) -> list[TextLine]:
        return [self.line]

    def second_opinion(self, image: Image, line: TextLine) -> tuple[tuple[str, float], ...]:
        self.asked.append(line)
        return self.opinion


PLATE_LINE = TextLine("5DJ0529", 0.99, ((600, 300), (720, 300), (720, 340), (600, 340)))


@pytest.mark.parametrize(
    ("opinion", "differs"),
    [
        ((("BDJ0529", 0.7), ("5DJ0529", 0.2)), True),
        ((("5DJ-O529", 0.8),), False),  # the same plate once normalised
        ((), False),  # no second recogniser: no evidence either way
    ],
)
def test_a_second_recogniser_reading_another_plate_is_evidence(
    opinion: tuple[tuple[str, float], ...], differs: bool
) -> None:
    fake = OpinionFake(PLATE_LINE, opinion)
    assert isinstance(fake, SecondOpinion)
    result = PlateReader(fake, 4096 * 4096).read_frame(FRAME)
    assert isinstance(result, PlateReadResult) and result.evidence is not None
    assert result.plate == "5DJ0529"
    assert fake.asked == [PLATE_LINE], "asked about the best read's own line"
    assert result.evidence.second_opinion_differs is differs
    other = dataclasses.replace(result.evidence, second_opinion_differs=not differs)
    assert (probability_exact(result.evidence) < probability_exact(other)) is differs


DECISIONS = (0.5, ALERT_THRESHOLD)


def side(confidence: float) -> tuple[bool, ...]:
    return tuple(confidence >= threshold for threshold in DECISIONS)


@pytest.mark.parametrize("opinion", [(("BDJ0529", 0.7),), (("5DJ0529", 0.8),)])
def test_an_opinion_is_asked_only_where_it_could_change_what_is_done(
    opinion: tuple[tuple[str, float], ...],
) -> None:
    asked = skipped = 0
    for step in range(1, 100):
        line = PLATE_LINE._replace(confidence=step / 100)
        always = PlateReader(OpinionFake(line, opinion), 4096 * 4096).read_frame(FRAME)
        fake = OpinionFake(line, opinion)
        result = PlateReader(fake, 4096 * 4096, decisions=DECISIONS).read_frame(FRAME)
        assert isinstance(always, PlateReadResult) and isinstance(result, PlateReadResult)
        assert result.plate == always.plate and result.candidates == always.candidates
        assert side(result.confidence) == side(always.confidence), f"line confidence {step}%"
        assert result.evidence is not None
        if fake.asked:
            asked += 1
            assert result.confidence == always.confidence
        else:
            skipped += 1
            assert result.evidence.second_opinion_differs is None
            assert result.confidence <= always.confidence, "not asked: the lower confidence"
    assert asked and skipped, (asked, skipped)


def test_near_a_threshold_the_opinion_is_always_asked() -> None:
    for score in (s / 1000 for s in range(1, 1000)):
        read = sure(score=score)
        agrees = probability_exact(read)
        differs = probability_exact(dataclasses.replace(read, second_opinion_differs=True))
        unasked = probability_exact(dataclasses.replace(read, second_opinion_differs=None))
        assert unasked == differs < agrees
        if not evidence.opinion_can_matter(read, DECISIONS):
            assert side(agrees) == side(differs)
            assert all(abs(agrees - t) > 1e-4 and abs(differs - t) > 1e-4 for t in DECISIONS)
    assert evidence.opinion_can_matter(sure(score=0.5), DECISIONS)
    assert not evidence.opinion_can_matter(sure(score=0.95), DECISIONS)
    assert not evidence.opinion_can_matter(sure(score=0.05), DECISIONS)


def test_the_worker_asks_only_where_needed_unless_told_always(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipelines.ocr import backends
    from pipelines.settings import Settings

    fake = OpinionFake(PLATE_LINE, (("BDJ0529", 0.7),))
    monkeypatch.setattr(backends, "shared_recognizer", lambda settings, backend: fake)
    settings = Settings()
    assert PlateReader.from_settings(settings).decisions == (
        settings.ocr_min_confidence,
        ALERT_THRESHOLD,
    )
    assert PlateReader.from_settings(Settings(ocr_second_opinion_always=True)).decisions is None
