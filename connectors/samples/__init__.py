"""Demo data lprx ships: synthetic camera frames (``frames/``) and a sample hotlist.

The frames are rendered by ``make_frames.py`` with OpenCV drawing only, so they carry no
third-party image rights; ``frames/manifest.json`` says which plate each one shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent
FRAMES_DIR = SAMPLES_DIR / "frames"
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class SampleFrame:
    """One shipped frame and the plate it shows."""

    path: Path
    plate: str
    region: str
    demo_hotlist: bool


def sample_frames(frames_dir: Path = FRAMES_DIR) -> list[SampleFrame]:
    """The frames listed in the manifest, in file order."""
    manifest = json.loads((frames_dir / MANIFEST_NAME).read_text())
    return [
        SampleFrame(
            path=frames_dir / entry["file"],
            plate=entry["plate"],
            region=entry["region"],
            demo_hotlist=bool(entry.get("demo_hotlist", False)),
        )
        for entry in manifest["frames"]
    ]
