"""``lprx ocr eval``: any folder in the openalpr layout, with a fake recogniser."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from pipelines.ocr import evaluate as evaluation
from pipelines.ocr.confidence import alert_threshold
from pipelines.ocr.engine import Image, TextLine
from pipelines.ocr.reader import PlateReader

BOX = ((500.0, 300.0), (700.0, 300.0), (700.0, 340.0), (500.0, 340.0))


class FixedText:
    def __init__(self, text: str) -> None:
        self.text = text

    def recognize(self, image: Image) -> list[TextLine]:
        return [TextLine(self.text, 0.9, BOX)] if self.text else []


def make_folder(folder: Path, labels: dict[str, str]) -> Path:
    ok, encoded = cv2.imencode(".jpg", np.full((720, 1280, 3), 100, np.uint8))
    assert ok
    for name, plate in labels.items():
        (folder / f"{name}.jpg").write_bytes(encoded.tobytes())
        (folder / f"{name}.txt").write_text(f"{name}.jpg\t1\t2\t3\t4\t{plate}\n")
    (folder / "README.txt").write_text("not a label")
    return folder


def test_counts_exact_reads_and_normalises_labels(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, {"a": "KRT-417", "b": "krt 417", "c": "XYZ999"})
    result = evaluation.evaluate(folder, PlateReader(FixedText("KRT417"), 10**8))
    assert result["images"] == 3
    assert result["top1_exact"] == 2  # dash, space and case do not matter
    assert result["topn_exact"] == 2
    assert result["no_plate"] == 0
    assert len(result["misses"]) == 1
    assert result["median_ms_per_image"] >= 0
    # The shipped alert threshold on this folder: reads at or above it, and how exact.
    assert result["alert_threshold"] == alert_threshold()
    assert 0.0 <= result["recall_at_alert_threshold"] <= 1.0
    assert 0.0 <= result["precision_at_alert_threshold"] <= 1.0


def test_no_plate_is_counted(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, {"a": "KRT417"})
    result = evaluation.evaluate(folder, PlateReader(FixedText(""), 10**8), limit=5)
    assert (result["images"], result["top1_exact"], result["no_plate"]) == (1, 0, 1)


def test_command_prints_one_json_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_folder(tmp_path, {"a": "KRT417", "b": "HDZ771"})
    monkeypatch.setattr(
        PlateReader,
        "from_settings",
        classmethod(lambda cls, s, backend=None, regions=(): cls(FixedText("KRT417"), 10**8)),
    )
    outcome = CliRunner().invoke(evaluation.app, ["eval", str(folder), "--limit", "1"])
    assert outcome.exit_code == 0, outcome.output
    result = json.loads(outcome.output)
    assert {"images", "top1_exact", "topn_exact", "median_ms_per_image"} <= set(result)
    assert {"alert_threshold", "precision_at_alert_threshold", "recall_at_alert_threshold"} <= set(
        result
    )
    assert result["images"] == 1 and result["top1_exact"] == 1


def test_an_unknown_region_hint_is_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, {"a": "KRT417"})
    outcome = CliRunner().invoke(evaluation.app, ["eval", str(folder), "--region", "atlantis"])
    assert outcome.exit_code != 0
    assert "unknown plate region" in outcome.output
