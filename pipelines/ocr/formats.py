"""Plate serial formats of the regions lprx may see, and how well a string fits them.

A reader does not know which state or country issued a plate, so the prior is the union
of the standard passenger serial formats of every region listed here (``L`` a letter,
``D`` a digit, separators dropped): US states, European countries, Brazil (old
``LLLDDDD`` and Mercosur ``LLLDLDD``) and its Mercosur neighbours. A string that fits
one is likelier a correct read than one that does not; a string that fits none is kept
(vanity, specialty, older plates and regions not listed exist), only weighed down, so a
plate from an unlisted country is still read. A camera's region hint ("us", "us-ca",
"eu", "sk", "br") narrows the prior to that region's formats, still not a filter.

Most confusable pairs (B/8, A/4, ...) come with the recogniser's per-character
alternatives (``ctc``), and the format weight picks between "8" and "B" where one fits a
format and the other does not. A few the recogniser gets wrong with confidence, offering
no alternative (the open "4" of California's font read as "L"); for those
``confusable_fits`` proposes the one-character swaps that make an off-format string fit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from schemas.plates import OCR_CONFUSIONS

# United States: standard passenger serials by state (the states' published formats).
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


# Europe: each country's current standard serial format(s), by ISO country code. Older
# series and personalised plates are left out on purpose: every format added makes more
# misreads fit, and a plate in no format is still read, only weighed down.
EUROPE_FORMATS: Mapping[str, tuple[str, ...]] = {
    "be": ("DLLLDDD",),
    "bg": ("LLDDDDLL", "LDDDDLL"),
    "ch": ("LLDDDDDD", "LLDDDDD", "LLDDDD"),
    "cz": ("DLLDDDD", "DLDDDDD"),
    "de": ("LLDDDD", "LLLDDD", "LLLDDDD", "LLLLDDD", "LLLLDDDD"),
    "dk": ("LLDDDDD",),
    "ee": ("DDDLLL",),
    "es": ("DDDDLLL",),
    "fi": ("LLLDDD",),
    "fr": ("LLDDDLL",),
    "gb": ("LLDDLLL",),
    "gr": ("LLLDDDD",),
    "hr": ("LLDDDLL", "LLDDDDLL"),
    "hu": ("LLLDDD", "LLLLDDD"),
    "ie": ("DDDLDDDD", "DDLDDDDD", "DDLLDDDD"),
    "it": ("LLDDDLL",),
    "lt": ("LLLDDD",),
    "lu": ("LLDDDD",),
    "lv": ("LLDDDD",),
    "nl": ("DLLLDD", "LLDDDL", "LDDDLL", "LLLDDL", "LDDLLL", "DLLDDD"),
    "no": ("LLDDDDD",),
    "pl": ("LLDDDDD", "LLLDDDD", "LLLDDLL"),
    "pt": ("LLDDLL",),
    "ro": ("LLDDLLL", "LDDDLLL"),
    "rs": ("LLDDDLL",),
    "se": ("LLLDDL", "LLLDDD"),
    "si": ("LLLLDDD",),
    "sk": ("LLDDDLL",),
    "tr": ("DDLDDDD", "DDLLDDD", "DDLLLDD"),
    "ua": ("LLDDDDLL",),
}

# Brazil (old grey plates and Mercosur) and the Mercosur neighbours.
SOUTH_AMERICA_FORMATS: Mapping[str, tuple[str, ...]] = {
    "br": ("LLLDDDD", "LLLDLDD"),
    "ar": ("LLDDDLL",),
    "uy": ("LLLDDDD",),
    "py": ("LLLLDDD",),
}

# Region hints by family: "us" means every US state, "eu" every European country.
FAMILIES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "us": {f"us-{state.lower()}": formats for state, formats in US_FORMATS.items()},
    "eu": EUROPE_FORMATS,
    "sa": SOUTH_AMERICA_FORMATS,
}
REGIONS: Mapping[str, tuple[str, ...]] = {
    region: formats for family in FAMILIES.values() for region, formats in family.items()
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
    """The formats of the given regions, every region's when None.

    A region is a family ("us", "eu", "sa"), a US state ("us-ca", or "ca"), or a
    country ("sk", "br"); case does not matter. Raises ValueError for an unknown one, so
    a mistyped camera hint is found at start-up, not silently ignored.
    """
    if regions is None:
        return frozenset(p for formats in REGIONS.values() for p in formats)
    chosen: set[str] = set()
    for region in regions:
        name = region.strip().lower()
        if name in FAMILIES:
            chosen.update(p for formats in FAMILIES[name].values() for p in formats)
        elif name in REGIONS:
            chosen.update(REGIONS[name])
        elif f"us-{name}" in REGIONS:
            chosen.update(REGIONS[f"us-{name}"])
        else:
            raise ValueError(f"unknown plate region {region!r}; known: {sorted(REGIONS)}")
    return frozenset(chosen)


ALL_PATTERNS = known_patterns()
ALL_US_PATTERNS = known_patterns(["us"])


def fits(plate: str, format_pattern: str) -> bool:
    """True when ``plate`` has the format's letters and digits; "0" fits both, since
    plates print O and 0 alike and lprx reports both as "0"."""
    return len(plate) == len(format_pattern) and all(
        character == "0" or (kind == "D") == character.isdigit()
        for character, kind in zip(plate, format_pattern, strict=True)
    )


def format_weight(
    plate: str, patterns: frozenset[str] = ALL_PATTERNS, off_format: float = OFF_FORMAT_WEIGHT
) -> float:
    """1 for a string in a known format, ``off_format`` otherwise."""
    return 1.0 if fits_any(plate, patterns) else off_format


def fits_any(plate: str, patterns: frozenset[str]) -> bool:
    if pattern(plate) in patterns:
        return True
    if "0" not in plate:
        return False
    return any(fits(plate, known) for known in _by_length(patterns).get(len(plate), ()))


@lru_cache(maxsize=32)
def _by_length(patterns: frozenset[str]) -> dict[int, tuple[str, ...]]:
    lengths: dict[int, list[str]] = {}
    for known in patterns:
        lengths.setdefault(len(known), []).append(known)
    return {length: tuple(found) for length, found in lengths.items()}


def confusable_fits(
    plate: str, patterns: frozenset[str] = ALL_PATTERNS, swap: float = CONFUSABLE_SWAP_WEIGHT
) -> list[tuple[str, float]]:
    """For a string that fits no known format, the strings one confusable character away
    that do, each with ``swap`` (its probability factor); none for a string that
    already fits."""
    if fits_any(plate, patterns):
        return []
    found: dict[str, float] = {}
    for position, character in enumerate(plate):
        for swapped in OCR_CONFUSIONS.get(character, ""):
            variant = plate[:position] + swapped + plate[position + 1 :]
            if fits_any(variant, patterns):
                found[variant] = swap
    return list(found.items())


# Plate fonts differ by family, and so does a character line's width per character in
# line heights ("pitch"): North American plates print 7 narrow characters about 70 mm
# tall across a 300 mm plate (about 0.42 with the detector's margin); European and South
# American plates print wider characters across 400-520 mm (about 0.6-0.67). A line's
# pitch is so a soft hint of which family's formats apply.
NARROW_PITCH = 0.48
# How sharply the hint turns from one family to the other around ``NARROW_PITCH``.
PITCH_SPREAD = 0.025
NARROW_FAMILIES = frozenset({"us"})


@dataclass(frozen=True)
class FormatPrior:
    """The formats a reading is weighed against, and what fitting none costs.

    Formats come in two font families: narrow (North America) and wide (Europe, South
    America). A reading is weighed against each, each family counting by how well its
    line's pitch fits that family's fonts: so "LGLS168" (a German format) still loses to
    California's "4GLS168" on a narrow-font line, and wins on a wide one. A region hint
    of one family leaves only that family's formats.
    """

    narrow: frozenset[str] = field(default_factory=lambda: known_patterns(NARROW_FAMILIES))
    wide: frozenset[str] = field(
        default_factory=lambda: known_patterns(set(FAMILIES) - NARROW_FAMILIES)
    )
    off_format: float = OFF_FORMAT_WEIGHT
    swap: float = CONFUSABLE_SWAP_WEIGHT
    narrow_pitch: float = NARROW_PITCH
    follows_cues: bool = True
    """Whether a frame's own text naming a region ("TEXAS", "BA-SALVADOR") narrows the
    formats for that frame (``cues``); off once a camera's hint has narrowed them."""

    def narrowed(self, regions: Iterable[str]) -> FormatPrior:
        """This prior with only the formats of ``regions``, its weights kept."""
        return FormatPrior.for_regions(regions, self.off_format, self.swap, self.narrow_pitch)

    @classmethod
    def for_regions(
        cls,
        regions: Iterable[str] | None,
        off_format: float = OFF_FORMAT_WEIGHT,
        swap: float = CONFUSABLE_SWAP_WEIGHT,
        narrow_pitch: float = NARROW_PITCH,
    ) -> FormatPrior:
        """Every region's formats when ``regions`` is None or empty, else theirs."""
        chosen = [region.strip().lower() for region in regions or ()]
        if not chosen:
            return cls(off_format=off_format, swap=swap, narrow_pitch=narrow_pitch)
        narrow = [r for r in chosen if r in NARROW_FAMILIES or r.startswith("us-")]
        wide = [r for r in chosen if r not in narrow and f"us-{r}" not in REGIONS]
        narrow += [r for r in chosen if f"us-{r}" in REGIONS]
        return cls(
            known_patterns(narrow) if narrow else frozenset(),
            known_patterns(wide) if wide else frozenset(),
            off_format,
            swap,
            narrow_pitch,
            follows_cues=False,
        )

    def narrow_share(self, pitch: float | None) -> float:
        """How far a line of this pitch (None: unknown) is read as a narrow-font plate."""
        if not self.wide:
            return 1.0
        if not self.narrow:
            return 0.0
        if pitch is None:
            return 0.5
        exponent = max(-50.0, min(50.0, (pitch - self.narrow_pitch) / PITCH_SPREAD))
        return 1.0 / (1.0 + math.exp(exponent))

    def weight(self, plate: str, pitch: float | None = None) -> float:
        """1 for a string in a format of its line's family, ``off_format`` for one in no
        format; in between for one that fits only the family its line looks less like."""
        share = self.narrow_share(pitch)
        narrow = 1.0 if fits_any(plate, self.narrow) else self.off_format
        wide = 1.0 if fits_any(plate, self.wide) else self.off_format
        return share * narrow + (1.0 - share) * wide

    def swaps(self, plate: str, pitch: float | None = None) -> list[tuple[str, float]]:
        """The one-swap variants of ``plate`` that fit a format of the family its line
        looks like (both when the line could be either), where ``plate`` fits none."""
        share = self.narrow_share(pitch)
        found: dict[str, float] = {}
        for patterns, likely in ((self.narrow, share >= 0.5), (self.wide, share <= 0.5)):
            if patterns and likely:
                found.update(confusable_fits(plate, patterns, self.swap))
        return list(found.items())


DEFAULT_PRIOR = FormatPrior()
