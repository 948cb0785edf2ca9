"""The one home of plate rules: normalisation, confusable characters, edit distance,
wildcards. Ingest, OCR, dedup, matching, suppression and the store all import these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

# Plate text is upper case A-Z and 0-9; anything else is a separator or noise.
_NOT_PLATE_CHARACTER = re.compile(r"[^A-Z0-9]")
# The shortest and longest plate kept (US vanity "A1" to European and Brazilian formats).
MIN_PLATE_LENGTH = 2
MAX_PLATE_LENGTH = 10

# Characters plate readers confuse, folded to one representative each (O/0, D/0, I/1,
# B/8, S/5, Z/2, G/6). Two plates with the same key are one plate to a reader: matching,
# dedup, hit suppression and the store's spelling index all fold with this table.
CONFUSABLES = str.maketrans({"O": "0", "D": "0", "I": "1", "B": "8", "S": "5", "Z": "2", "G": "6"})
WILDCARD_CHARACTERS = frozenset("*?")

# OCR-specific: the longest line of a frame the OCR stage takes for a plate. Tighter than
# MAX_PLATE_LENGTH because 9-10 character runs in a frame are mostly phone numbers and
# timestamps, while a camera that reads 10 characters has already found the plate.
OCR_MAX_PLATE_LENGTH = 8

# OCR-specific confusions, used only where a recogniser's raw text is read (pipelines/ocr):
# digits a recogniser reads in place of letters, so "MINNES0TA" still reads as a word...
OCR_DIGIT_AS_LETTER = str.maketrans("0125678", "OIZSGTB")
# ...and letters and digits that plate fonts draw alike and a general text recogniser
# confuses with high confidence, so its own alternatives may not carry the right one (the
# open "4" of California's font reads as "L"). Letter O needs none: it is reported as "0".
# Pairs whose alternatives the recogniser does carry (8/B, 4/A) are left to it: swapping
# them by rule turned right off-format reads ("21A1BX", "78188") into wrong ones.
OCR_CONFUSIONS: Mapping[str, str] = {
    "0": "DQ", "1": "I", "2": "Z", "4": "L", "5": "S", "6": "G", "7": "T",
    "D": "0", "G": "6", "I": "1", "L": "4", "Q": "0", "S": "5", "T": "7", "Z": "2",
}  # fmt: skip


def normalize_plate(text: str) -> str:
    """Upper case, A-Z and 0-9 only: 'abc-123' and 'ABC 123' are one plate."""
    return _NOT_PLATE_CHARACTER.sub("", text.upper())


def has_plate_length(plate: str) -> bool:
    return MIN_PLATE_LENGTH <= len(plate) <= MAX_PLATE_LENGTH


def normalize_region(region: str | None) -> str | None:
    """OpenALPR style 'us-mn'; accepts 'MN' or 'US-MN'."""
    if not region:
        return None
    value = region.strip().lower()
    if len(value) == 2 and value.isalpha():
        value = f"us-{value}"
    return value


def confusable_key(plate: str) -> str:
    return plate.translate(CONFUSABLES)


def deletions(key: str) -> list[str]:
    """The key with each one character removed (the deletion neighbourhood)."""
    return [key[:i] + key[i + 1 :] for i in range(len(key))]


def within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance of a and b is at most 1."""
    la, lb = len(a), len(b)
    if la == lb:
        differences = 0
        for x, y in zip(a, b, strict=True):
            if x != y:
                differences += 1
                if differences > 1:
                    return False
        return True
    if abs(la - lb) != 1:
        return False
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


def is_wildcard(plate: str) -> bool:
    return any(c in WILDCARD_CHARACTERS for c in plate)


@lru_cache(maxsize=65536)
def wildcard_pattern(plate: str) -> re.Pattern[str]:
    """``*`` matches any run of characters (also none), ``?`` exactly one."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in plate]
    return re.compile("".join(parts))
