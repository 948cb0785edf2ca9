"""Debian's Chromium driven by Playwright (its own browsers are never downloaded): the
browser of the console's tests. ``deploy/browser.sh`` installs Chromium the first time,
as ``make test`` does on a fresh machine; screenshots go to ``tests-artifacts/console/``
(git-ignored, synthetic test data only; each run overwrites the last)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests-artifacts" / "console"
# This machine's network is closed: Chromium's own background connections are turned
# off so it does not wait on them (see /work/.library notes on headless Chromium).
FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def ensure_chromium() -> Path:
    if not CHROMIUM.exists():
        subprocess.run(["bash", str(ROOT / "deploy" / "browser.sh")], check=True, timeout=1200)
    return CHROMIUM


@contextmanager
def chromium() -> Iterator[Browser]:
    executable = ensure_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot_path(name: str) -> str:
    return str(ARTIFACTS / f"{name}.png")
