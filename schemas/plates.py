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


# A wildcard entry must name enough of the plate to be about one car: "*" alone would hit
# every read and "????" every 4-character plate.
MIN_WILDCARD_LITERALS = 3
MAX_WILDCARD_STARS = 2


def wildcard_problem(pattern: str) -> str | None:
    """Why a wildcard hotlist plate is refused, or None when it is acceptable: at least
    MIN_WILDCARD_LITERALS plate characters, at most MAX_WILDCARD_STARS ``*``, no longer
    than a plate, only A-Z, 0-9, ``*`` and ``?``."""
    literals = sum(c not in WILDCARD_CHARACTERS for c in pattern)
    if any(c not in WILDCARD_CHARACTERS and not ("A" <= c <= "Z" or "0" <= c <= "9")
           for c in pattern):  # fmt: skip
        return f"wildcard plate {pattern!r} holds characters other than A-Z, 0-9, * and ?"
    if literals < MIN_WILDCARD_LITERALS:
        return (
            f"wildcard plate {pattern!r} names {literals} plate characters; at least "
            f"{MIN_WILDCARD_LITERALS} are needed, or it would hit too many cars"
        )
    if pattern.count("*") > MAX_WILDCARD_STARS:
        return f"wildcard plate {pattern!r} has more than {MAX_WILDCARD_STARS} '*'"
    if len(pattern.replace("*", "")) > MAX_PLATE_LENGTH:
        return f"wildcard plate {pattern!r} is longer than a plate ({MAX_PLATE_LENGTH})"
    return None


class WildcardPattern:
    """A hotlist plate with ``*`` (any run of characters, also none) and ``?`` (exactly
    one). Matching is a table walk over pattern x plate, so its time is bounded by the
    two lengths whatever the pattern (a regular expression backtracks)."""

    __slots__ = ("pattern",)

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def fullmatch(self, plate: str) -> bool:
        # reachable[j]: the pattern read so far can match plate[:j].
        reachable = [True] + [False] * len(plate)
        for symbol in self.pattern:
            if symbol == "*":
                for j in range(1, len(reachable)):
                    reachable[j] = reachable[j] or reachable[j - 1]
            else:
                for j in range(len(plate), 0, -1):
                    reachable[j] = reachable[j - 1] and (symbol in ("?", plate[j - 1]))
                reachable[0] = False
        return reachable[-1]


@lru_cache(maxsize=65536)
def wildcard_pattern(plate: str) -> WildcardPattern:
    """``*`` matches any run of characters (also none), ``?`` exactly one."""
    return WildcardPattern(plate)
