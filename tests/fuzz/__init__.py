"""Fuzzing: the ingest from its own OpenAPI (schemathesis) and every decoder and file
parser (Hypothesis). ``make test`` runs a short pass (LPRX_FUZZ_EXAMPLES per target,
default 100); ``make fuzz`` runs a long one and prints the counts."""

from __future__ import annotations

import os

EXAMPLES = int(os.environ.get("LPRX_FUZZ_EXAMPLES", "100"))
