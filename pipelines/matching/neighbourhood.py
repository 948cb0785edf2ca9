"""The tagged deletion neighbourhood of a confusable key, and its 64-bit hashes.

Edit distance uses the deletion neighbourhood (as SymSpell does), each string tagged
with the position of the character removed (0 for the plain key). A read at most one
edit away from an entry shares a string with it under compatible tags: the read's key is
an entry's deletion (the read lost a character), a deletion of the read is the entry's
key (the read has an extra one), or both lost the character at the same position (a
substitution). Deletions at different positions are candidates at distance two, so the
tag drops them without a comparison.

A string of up to 15 one-byte characters (every plate's) is hashed from its bytes
packed into a 128-bit integer, so a deletion is a shift and a mask, not a new string:
``variant_hashes`` for one key in plain Python, ``under_tags`` and ``packed_hashes`` for
a whole batch with numpy. Strings that do not pack are hashed with Python's hash().
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

# A deletion's tag is its position + 1 (4 bits); longer keys are matched exactly only.
TAG_BITS = 4
TAG_MASK = (1 << TAG_BITS) - 1
MAX_FUZZY_LENGTH = TAG_MASK


def variants(key: str) -> list[str]:
    """The key (tag 0) and the key with character i removed (tag i + 1), in tag order."""
    return [key, *[key[:i] + key[i + 1 :] for i in range(len(key))]]


def compatible(query_tag: int, entry_tag: int) -> bool:
    """Whether a shared string means "at most one edit apart" (see the module docs)."""
    return not query_tag or not entry_tag or query_tag == entry_tag


class PackedKeys(NamedTuple):
    """Keys of at most MAX_FUZZY_LENGTH one-byte characters, each as a 128-bit
    little-endian integer (two words, zero-padded: the top byte is always free), and
    their lengths; any other key has length -1, and is compared as a string instead."""

    low: npt.NDArray[np.uint64]
    high: npt.NDArray[np.uint64]
    lengths: npt.NDArray[np.int64]


def pack_keys(keys: Sequence[str]) -> PackedKeys:
    width = MAX_FUZZY_LENGTH + 1
    packable = [len(key) <= MAX_FUZZY_LENGTH for key in keys]
    try:
        data = "".join(
            key.ljust(width, "\0") if ok else "\0" * width
            for key, ok in zip(keys, packable, strict=True)
        ).encode("latin-1")
    except UnicodeEncodeError:  # some character needs more than a byte
        packable = [
            ok and max(key, default="") <= "\xff" for key, ok in zip(keys, packable, strict=True)
        ]
        data = "".join(
            key.ljust(width, "\0") if ok else "\0" * width
            for key, ok in zip(keys, packable, strict=True)
        ).encode("latin-1")
    words = np.frombuffer(data, "<u8").reshape(len(keys), 2)
    lengths = np.fromiter(
        (len(key) if ok else -1 for key, ok in zip(keys, packable, strict=True)),
        np.int64,
        len(keys),
    )
    return PackedKeys(words[:, 0].astype(np.uint64), words[:, 1].astype(np.uint64), lengths)


_ALL_BITS = (1 << 64) - 1
# Per tag, the bits of each word a packed key's string under the tag keeps in place
# (those of the characters before the removed one); the others come from one
# character further up. Tag 0 keeps everything.
_KEPT_LOW = np.array(
    [_ALL_BITS, *[(1 << 8 * i) - 1 if i < 8 else _ALL_BITS for i in range(MAX_FUZZY_LENGTH)]],
    np.uint64,
)
_KEPT_HIGH = np.array(
    [_ALL_BITS, *[(1 << 8 * (i - 8)) - 1 if i >= 8 else 0 for i in range(MAX_FUZZY_LENGTH)]],
    np.uint64,
)
_BYTE, _SEVEN_BYTES = np.uint64(8), np.uint64(56)


def under_tags(
    keys: PackedKeys, rows: npt.NDArray[np.int64], tags: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """The packed strings of keys[rows] under tags (see ``variants``)."""
    low, high = keys.low[rows], keys.high[rows]
    kept_low, kept_high = _KEPT_LOW[tags], _KEPT_HIGH[tags]
    moved_low = (low >> _BYTE) | (high << _SEVEN_BYTES)
    return (
        (low & kept_low) | (moved_low & ~kept_low),
        (high & kept_high) | ((high >> _BYTE) & ~kept_high),
        keys.lengths[rows] - (tags > 0),
    )


# The table's hash of a string that packs: the packed value's low word, mixed with the
# high one (the length in its free top byte), times an odd constant, mod 2**64; the
# table takes a cell from the top bits (multiply-shift hashing). A bijection of the low
# word, so strings of up to 8 characters never collide. Computed for a whole batch with
# numpy, with no string built; strings that do not pack use Python's hash().
_MULTIPLIER = 0x9E3779B97F4A7C15  # odd, its bits well mixed (2**64 / the golden ratio)
_HIGH_MULTIPLIER = 0xC2B2AE3D27D4EB4F  # another odd one
_LENGTH_SHIFT = 8 * MAX_FUZZY_LENGTH


def _one_byte(text: str) -> bool:
    return text.isascii() or max(text) <= "\xff"


def string_hash(text: str) -> int:
    """The table's hash of any string; never 0, which marks an empty cell."""
    if len(text) <= MAX_FUZZY_LENGTH and _one_byte(text):
        packed = int.from_bytes(text.encode("latin-1"), "little") | len(text) << _LENGTH_SHIFT
        return _hash_packed(packed)
    return (hash(text) & _ALL_BITS) or 1


def _hash_packed(packed: int) -> int:
    return ((packed & _ALL_BITS ^ (packed >> 64) * _HIGH_MULTIPLIER) * _MULTIPLIER & _ALL_BITS) or 1


def variant_hashes(key: str) -> list[int]:
    """``string_hash`` of each of ``variants(key)``, from the packed key, without
    building the variants (the single lookup's hot path, so written out)."""
    length = len(key)
    if length > MAX_FUZZY_LENGTH or not _one_byte(key):
        return [string_hash(variant) for variant in variants(key)]
    packed = int.from_bytes(key.encode("latin-1"), "little")
    first = _hash_packed(packed | length << _LENGTH_SHIFT)
    if not length:
        return [first]
    # Deleting character i: the bits below it stay, those above move down a byte.
    below = _BELOW[:length]
    if length <= 8:  # every variant in the low word: the high one is just the length
        mixed_length = _MIXED_LENGTHS[length - 1]
        return [
            first,
            *[
                (
                    (((packed & kept) | (packed >> above << shift)) ^ mixed_length) * _MULTIPLIER
                    & _ALL_BITS
                )
                or 1
                for kept, shift, above in below
            ],
        ]
    shorter = (length - 1) << _LENGTH_SHIFT
    return [
        first,
        *[
            _hash_packed((packed & kept) | (packed >> above << shift) | shorter)
            for kept, shift, above in below
        ],
    ]


# For each position: the bits of the characters below it, their number, and that of
# the bits up to the character's end.
_BELOW = [((1 << 8 * i) - 1, 8 * i, 8 * i + 8) for i in range(MAX_FUZZY_LENGTH)]
# The high word of a packed string of each length, as _hash_packed mixes it in.
_MIXED_LENGTHS = [
    (length << _LENGTH_SHIFT - 64) * _HIGH_MULTIPLIER & _ALL_BITS
    for length in range(MAX_FUZZY_LENGTH + 1)
]


def packed_hashes(
    low: npt.NDArray[np.uint64], high: npt.NDArray[np.uint64], lengths: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint64]:
    """``string_hash`` of packed strings, vectorised."""
    high_word = high | (lengths.astype(np.uint64) << _SEVEN_BYTES)
    hashes: npt.NDArray[np.uint64] = (low ^ (high_word * np.uint64(_HIGH_MULTIPLIER))) * np.uint64(
        _MULTIPLIER
    )
    hashes[hashes == 0] = 1
    return hashes


def string_under_tag(key: str, tag: int) -> str:
    """The key's string under a tag: one of ``variants(key)``, built alone."""
    return key[: tag - 1] + key[tag:] if tag else key


def indexed_under(entry_key: str, entry_tag: int, variant: str) -> bool:
    """Whether the entry's string under this tag is ``variant``: the exact check behind
    a hash match (64-bit hashes rarely collide, but a hit must never rest on "rarely")."""
    if not entry_tag:
        return entry_key == variant
    return entry_key[: entry_tag - 1] + entry_key[entry_tag:] == variant
