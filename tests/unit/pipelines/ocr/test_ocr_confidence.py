"""Calibrated read confidence and the alert threshold: plain arithmetic, no model."""

from __future__ import annotations

import random

import pytest

from pipelines.ocr import confidence


def test_calibrated_confidence_is_a_probability_rising_with_the_score() -> None:
    values = [confidence.calibrated(score / 20) for score in range(21)]
    assert values == sorted(values)
    assert all(0.0 <= value <= 1.0 for value in values)


def test_the_fit_recovers_a_known_curve() -> None:
    rng = random.Random(3)
    truth = (0.5, 2.0)
    outcomes = []
    for _ in range(4000):
        score = rng.uniform(0.05, 0.999)
        outcomes.append((score, rng.random() < confidence.calibrated(score, truth)))
    a, b = confidence.fit_calibration(outcomes)
    assert a == pytest.approx(truth[0], abs=0.25)
    assert b == pytest.approx(truth[1], abs=0.3)


def test_a_perfectly_separated_sample_still_fits_a_finite_curve() -> None:
    outcomes = [(0.9, True)] * 20 + [(0.3, False)] * 20
    a, b = confidence.fit_calibration(outcomes)
    assert confidence.calibrated(0.9, (a, b)) > 0.9 > 0.1 > confidence.calibrated(0.3, (a, b))


def test_threshold_is_the_lowest_with_the_precision_asked() -> None:
    outcomes = [(0.99, True)] * 50 + [(0.9, False)] + [(0.8, True)] * 49 + [(0.5, False)] * 10
    # Down to 0.8: 99 exact of 100 reads.
    assert confidence.choose_threshold(outcomes, precision=0.99) == 0.8
    assert confidence.choose_threshold(outcomes, precision=1.0) == 0.99
    assert confidence.at_threshold(outcomes, 0.8) == (0.99, 100 / 110)


def test_reads_of_one_confidence_are_not_split() -> None:
    outcomes = [(0.9, True)] * 5 + [(0.9, False)]
    assert confidence.choose_threshold(outcomes, precision=0.99) == 1.0
    assert confidence.at_threshold([], 0.5) == (1.0, 0.0)


def test_the_shipped_threshold_is_the_function_settings_can_use() -> None:
    assert confidence.alert_threshold() == confidence.ALERT_THRESHOLD
    assert 0.5 < confidence.ALERT_THRESHOLD < 1.0
