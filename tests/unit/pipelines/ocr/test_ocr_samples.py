"""The demo frames lprx ships: present, small, 720p, listed, and what the generator draws."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from connectors.samples import FRAMES_DIR, SAMPLES_DIR, SampleFrame, sample_frames
from pipelines.ocr.make_samples import SCENES, render

FRAMES = sample_frames()


def test_manifest_lists_every_shipped_frame() -> None:
    listed = {frame.path.name for frame in FRAMES}
    assert listed == {path.name for path in FRAMES_DIR.glob("*.jpg")}
    assert len(FRAMES) >= 6
    assert len({frame.plate for frame in FRAMES}) == len(FRAMES)


@pytest.mark.parametrize("frame", FRAMES, ids=lambda frame: frame.path.name)
def test_frame_is_a_small_720p_jpeg(frame: SampleFrame) -> None:
    data = frame.path.read_bytes()
    assert len(data) < 150 * 1024
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (720, 1280, 3)


def test_demo_hotlist_plates_are_on_the_sample_hotlist() -> None:
    hotlisted = {frame.plate for frame in FRAMES if frame.demo_hotlist}
    assert hotlisted
    hotlist_csv = SAMPLES_DIR / "hotlist.csv"
    if not hotlist_csv.exists():
        pytest.skip("no sample hotlist.csv")
    with hotlist_csv.open(newline="") as rows:
        on_list = {row["plate"] for row in csv.DictReader(rows)}
    assert hotlisted <= on_list


@pytest.mark.parametrize("index", range(len(SCENES)))
def test_shipped_frames_are_what_the_generator_renders(index: int) -> None:
    scene = SCENES[index]
    shipped = cv2.imread(str(FRAMES_DIR / scene.file), cv2.IMREAD_COLOR)
    rendered = render(scene, index)
    # JPEG loss only: a changed scene or plate would differ far more.
    assert float(np.abs(shipped.astype(np.int16) - rendered).mean()) < 3.0
