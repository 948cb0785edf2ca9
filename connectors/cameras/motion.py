"""Motion gating: a camera watching a still scene sends nothing.

OpenCV's MOG2 background subtractor learns the scene on a small blurred grey copy of each
sampled frame (cheap, and blind to sensor noise). A frame is sent when the foreground
share of its unmasked area passes ``threshold``.

* The **first frame is always sent**: whatever is in view when the camera starts (a car
  at the kerb) is learnt as background at once and would otherwise never be sent.
* The next ``warmup_frames - 1`` frames only teach the model (auto-exposure settling);
  they are not sent.
* A vehicle that stops becomes background after roughly ``history / 10`` frames, so a
  parked car is sent while it arrives and for a few frames after, not forever.
* Masked pixels are black before the gate sees them, and the share is of the unmasked
  area, so motion behind a privacy mask never sends a frame.
* A change of frame size (a folder of mixed images, a stream renegotiating) starts over.

All counts are in sampled frames: the gate sees only what sampling kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from connectors.cameras.privacy_masks import PrivacyMasks

# Wide enough for a vehicle to be many pixels, small enough to cost well under 1 ms.
GATE_WIDTH = 320
# Clears isolated foreground pixels (noise, compression) before they are counted.
_OPENING_KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class MotionSettings:
    threshold: float = 0.005
    warmup_frames: int = 3
    history: int = 50

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError("the motion threshold is a share of the frame: more than 0, below 1")
        if self.warmup_frames < 1:
            raise ValueError("motion warm-up must be 1 frame or more")
        if self.history < 2:
            raise ValueError("motion history must be 2 frames or more")


class Verdict(StrEnum):
    FIRST = "first"
    MOVING = "moving"
    WARMUP = "warmup"
    STILL = "still"

    @property
    def send(self) -> bool:
        return self in (Verdict.FIRST, Verdict.MOVING)


class MotionGate:
    """Decides, frame by frame, whether a camera's (already masked) frame shows motion."""

    def __init__(self, settings: MotionSettings, masks: PrivacyMasks | None = None) -> None:
        self.settings = settings
        self.masks = masks or PrivacyMasks(())
        self._size: tuple[int, int] | None = None
        self._reset()

    def _reset(self) -> None:
        self._subtractor = cv2.createBackgroundSubtractorMOG2(
            history=self.settings.history, varThreshold=16, detectShadows=False
        )
        self._frames = 0
        self.last_share = 0.0

    def _small_grey(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        height, width = grey.shape[:2]
        if width > GATE_WIDTH:
            size = (GATE_WIDTH, max(1, round(height * GATE_WIDTH / width)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        return np.asarray(cv2.GaussianBlur(grey, (5, 5), 0), dtype=np.uint8)

    def judge(self, image: npt.NDArray[np.uint8]) -> Verdict:
        """Feeds ``image`` (masked already) to the model and says whether to send it."""
        small = self._small_grey(image)
        if small.shape != self._size:
            self._size = small.shape[:2]
            self._reset()
        foreground = self._subtractor.apply(small)
        self._frames += 1
        if self._frames == 1:
            return Verdict.FIRST
        if self._frames <= self.settings.warmup_frames:
            return Verdict.WARMUP
        foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, _OPENING_KERNEL)
        counted = foreground > 0
        unmasked = small.size
        if self.masks:
            hidden = self.masks.pixels(*small.shape[:2])
            counted &= ~hidden
            unmasked -= int(np.count_nonzero(hidden))
        self.last_share = int(np.count_nonzero(counted)) / unmasked if unmasked > 0 else 0.0
        return Verdict.MOVING if self.last_share > self.settings.threshold else Verdict.STILL
