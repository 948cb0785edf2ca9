"""Reading a console page's form in tests."""

from __future__ import annotations

import re


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no field {name}"
    return found.group(1)
