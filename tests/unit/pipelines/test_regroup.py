"""Which stage splits ``lprx regroup`` refuses before it touches Kafka: each stage of the
old set in exactly one new set, none from elsewhere (the moves themselves:
tests/integration/pipelines/test_regroup.py)."""

from __future__ import annotations

import pytest

from pipelines.services.regroup import check_split
from schemas.errors import ConfigurationError

FORMER = ["normalize", "match", "share", "store"]


@pytest.mark.parametrize(
    ("into", "why"),
    [
        ([], "name the new stage sets"),
        ([["normalize", "match", "share"]], r"missing \['store'\]"),
        ([["normalize", "match", "share", "store"], ["store"]], r"\['store'\] are in more"),
        ([["normalize", "match"], ["share", "store", "ocr"]], r"not in it \['ocr'\]"),
    ],
)
def test_a_split_that_loses_or_doubles_a_stage_is_refused(into: list[list[str]], why: str) -> None:
    with pytest.raises(ConfigurationError, match=why):
        check_split(FORMER, into)
