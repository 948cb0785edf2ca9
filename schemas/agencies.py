"""What an agency's identifier looks like.

An ORI (Originating Agency Identifier, assigned by the FBI for NCIC) is nine characters:
the two-letter state or territory code, then seven letters or digits (``MN0270100``).
"""

from __future__ import annotations

import re

ORI_PATTERN = re.compile(r"[A-Z]{2}[A-Z0-9]{7}")


def is_ori(value: object) -> bool:
    """True when ``value`` is a string shaped like an ORI (upper case, nine characters)."""
    return isinstance(value, str) and ORI_PATTERN.fullmatch(value) is not None
