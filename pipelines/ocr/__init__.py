"""The OCR stage's model side: from a camera frame's JPEG/PNG bytes to a plate read.

- ``reader``: ``PlateReader.read(bytes) -> PlateReadResult | NoPlate``, the entry point
- ``plates``: plain rules that turn OCR text lines into ranked plate candidates
- ``engine``: the injected text recogniser (``TextRecognizer``) and its PaddleOCR runner
- ``models``: offline provisioning of the PP-OCRv4 weights into the cache
- ``errors``: the typed errors of the stage

Nothing here imports Paddle at import time; only building a ``PaddleTextRecognizer`` does.
"""
