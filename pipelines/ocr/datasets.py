"""Where the labelled development photos are, and how their labels read.

The photos are not part of the repository (the openalpr benchmark set is AGPL): a
checkout finds them beside itself, in ``<repo>/../shared/datasets``, or wherever
``LPRX_DATASETS_DIR`` points. Tests and benchmarks locate them here and nowhere else,
so the same checkout runs its accuracy checks on any machine with that layout.

A dataset folder holds ``NAME.jpg`` (or .png) and ``NAME.txt`` with one tab-separated
line ``NAME.jpg x y w h PLATE`` (the openalpr benchmark layout).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DATASETS_ENV: Final = "LPRX_DATASETS_DIR"
# The development halves: US states, European countries, Brazil (old and Mercosur).
DEV_SETS: Final = ("openalpr-us-dev", "openalpr-eu-dev", "openalpr-br-dev")
_REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Label:
    image: Path
    plate: str
    """As written in the label file (upper case, no separators; may use letter O)."""


def datasets_dir() -> Path:
    """``$LPRX_DATASETS_DIR`` if set, else ``<repo>/../shared/datasets``."""
    configured = os.environ.get(DATASETS_ENV)
    if configured:
        return Path(configured).expanduser()
    return (_REPO / ".." / "shared" / "datasets").resolve()


def dataset(name: str) -> Path:
    """The folder of one dataset (it may be absent on this machine)."""
    return datasets_dir() / name


def load_labels(folder: Path) -> list[Label]:
    """Every labelled image in ``folder``, by name; unreadable label files are skipped."""
    labels = []
    for path in sorted(folder.glob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        fields = text.strip().split("\t")
        if len(fields) < 6:
            fields = text.split()
        if len(fields) < 6 or not (folder / fields[0]).is_file():
            continue
        labels.append(Label(folder / fields[0], fields[-1].strip()))
    return labels
