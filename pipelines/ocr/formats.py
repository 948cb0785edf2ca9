"""Plate serial formats, and how well a string fits them.

A reader does not know a frame's state, so the prior is the union of the standard
passenger serial formats US issuers document (``L`` a letter, ``D`` a digit, separators
dropped). A string that fits one is likelier a correct read than one that does not; a
string that fits none is kept (vanity, specialty and older plates exist), only weighed
down. Regions can be given to narrow the prior where a camera's plates are known.

Most confusable pairs (B/8, A/4, ...) come with the recogniser's per-character
alternatives (``ctc``), and the format weight picks between "8" and "B" where one fits a
format and the other does not. A few the recogniser gets wrong with confidence, offering
no alternative (the open "4" of California's font read as "L"); for those
``confusable_fits`` proposes the one-character swaps that make an off-format string fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from schemas.plates import OCR_CONFUSIONS

# Standard passenger serial formats by issuer (from the states' published formats).
US_FORMATS: Mapping[str, tuple[str, ...]] = {
    "AL": ("DLLDDDD", "DDLLDDD"),
    "AZ": ("LLLDDDD", "DDDLLL"),
    "AR": ("DDDLLL", "LLLDDL"),
    "CA": ("DLLLDDD",),
    "CO": ("DDDLLL", "LLLDDD", "LLLLDD"),
    "CT": ("DLLLDD", "LLDDDDD"),
    "DC": ("LLDDDD",),
    "DE": ("DDDDDD",),
    "FL": ("LLLDDD", "DDDLLL", "LLLLDD", "LDDDLL"),
    "GA": ("LLLDDDD", "DDDLLL"),
    "HI": ("LLLDDD",),
    "IA": ("LLLDDD", "DDDLLL"),
    "ID": ("DLDDDDD", "DLLDDDD"),
    "IL": ("LLDDDDD", "LDDDDDD"),
    "IN": ("DDDLLL", "DDDL", "LLLDDD"),
    "KS": ("DDDLLL", "LLLDDD"),
    "KY": ("DDDLLL", "LLLDDD"),
    "LA": ("DDDLLL", "LLLDDD"),
    "MA": ("DLLDDD", "DLLLDD", "DDDLLD"),
    "MD": ("DLLDDDD", "LLLDDD"),
    "ME": ("DDDDLL",),
    "MI": ("LLLDDDD", "DLLLDD", "LLLDDD"),
    "MN": ("LLLDDD", "DDDLLL"),
    "MO": ("LLDLDL", "LLDDLL"),
    "MS": ("LLLDDDD", "LLLDDD"),
    "MT": ("DLDDDDL", "DDDDDDL"),
    "NC": ("LLLDDDD",),
    "ND": ("DDDLLL",),
    "NE": ("LLLDDD", "DLDDDD"),
    "NH": ("DDDDDDD", "DDDDDD"),
    "NJ": ("LDDLLL", "LLLDDL"),
    "NM": ("LLLDDD", "DDDLLL"),
    "NV": ("DDLDDD", "DDDLLL"),
    "NY": ("LLLDDDD",),
    "OH": ("LLLDDDD", "LLLDDD"),
    "OK": ("LLLDDD", "DDDLLL"),
    "OR": ("DDDLLL", "LLLDDD"),
    "PA": ("LLLDDDD",),
    "RI": ("DDDDDD", "LLDDD"),
    "SC": ("LLLDDD", "DDDLLL"),
    "SD": ("DLDDDD", "DDLDDD"),
    "TN": ("LDDDDL", "DDDLLL", "LLLDDD"),
    "TX": ("LLLDDDD", "LLDLDDD", "DDDLLL", "LLLDDD"),
    "UT": ("LDDDLL", "DDDLLL"),
    "VA": ("LLLDDDD",),
    "VT": ("LLLDDD",),
    "WA": ("LLLDDDD", "DDDLLL"),
    "WI": ("LLLDDDD", "DDDLLL", "LLLDDD"),
    "WV": ("DLDDDD", "LLLDDD"),
    "WY": ("DDDDDD", "DDDDL"),
}

# A string that fits no known format keeps this share of its weight: rare plates must
# still win when the recogniser is sure of them.
OFF_FORMAT_WEIGHT = 0.3

# A swapped character costs about as much as fitting no format: one swap that makes a
# string fit beats leaving it off-format only narrowly, and two swaps never do.
CONFUSABLE_SWAP_WEIGHT = 0.35


def pattern(plate: str) -> str:
    """``L`` for each letter and ``D`` for each digit: "ABC1234" -> "LLLDDDD"."""
    return "".join("D" if character.isdigit() else "L" for character in plate)


def known_patterns(regions: Iterable[str] | None = None) -> frozenset[str]:
    """The formats of the given issuers (all US issuers when None)."""
    chosen = US_FORMATS if regions is None else {r: US_FORMATS[r] for r in regions}
    return frozenset(p for formats in chosen.values() for p in formats)


ALL_US_PATTERNS = known_patterns()


def fits(plate: str, format_pattern: str) -> bool:
    """True when ``plate`` has the format's letters and digits; "0" fits both, since
    plates print O and 0 alike and lprx reports both as "0"."""
    return len(plate) == len(format_pattern) and all(
        character == "0" or (kind == "D") == character.isdigit()
        for character, kind in zip(plate, format_pattern, strict=True)
    )


def format_weight(plate: str, patterns: frozenset[str] = ALL_US_PATTERNS) -> float:
    """1 for a string in a known format, ``OFF_FORMAT_WEIGHT`` otherwise."""
    if pattern(plate) in patterns or any(fits(plate, known) for known in patterns):
        return 1.0
    return OFF_FORMAT_WEIGHT


def confusable_fits(
    plate: str, patterns: frozenset[str] = ALL_US_PATTERNS
) -> list[tuple[str, float]]:
    """For a string that fits no known format, the strings one confusable character away
    that do, each with ``CONFUSABLE_SWAP_WEIGHT`` (its probability factor); none for a
    string that already fits."""
    if format_weight(plate, patterns) == 1.0:
        return []
    found: dict[str, float] = {}
    for position, character in enumerate(plate):
        for swapped in OCR_CONFUSIONS.get(character, ""):
            variant = plate[:position] + swapped + plate[position + 1 :]
            if format_weight(variant, patterns) == 1.0:
                found[variant] = CONFUSABLE_SWAP_WEIGHT
    return list(found.items())
