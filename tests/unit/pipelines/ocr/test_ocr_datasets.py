"""The labelled photos are found beside the checkout or where an env var says."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.ocr import datasets

REPO = Path(__file__).resolve().parents[4]


def test_the_default_is_beside_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(datasets.DATASETS_ENV, raising=False)
    assert datasets.datasets_dir() == (REPO / ".." / "shared" / "datasets").resolve()
    assert datasets.dataset("openalpr-us-dev").parent == datasets.datasets_dir()


def test_an_env_var_overrides_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(datasets.DATASETS_ENV, str(tmp_path))
    assert datasets.dataset("openalpr-eu-dev") == tmp_path / "openalpr-eu-dev"


def test_labels_in_the_openalpr_layout(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "a.txt").write_text("a.jpg\t1\t2\t3\t4\tRKO99AN\n")
    (tmp_path / "b.txt").write_text("b.jpg 1 2 3 4 ABC123\n")  # no image: skipped
    (tmp_path / "README.txt").write_text("notes")
    assert datasets.load_labels(tmp_path) == [datasets.Label(tmp_path / "a.jpg", "RKO99AN")]
