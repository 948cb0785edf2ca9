"""Plate keys for matching: confusable characters, edit distance, wildcards."""

from __future__ import annotations

import re
from functools import lru_cache

# Characters plate readers confuse, folded to one representative each (O/0, D/0, I/1,
# B/8, S/5, Z/2, G/6). Two plates with the same key are one plate to a reader.
CONFUSABLES = str.maketrans({"O": "0", "D": "0", "I": "1", "B": "8", "S": "5", "Z": "2", "G": "6"})
WILDCARD_CHARACTERS = frozenset("*?")


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
