"""What dedup keeps to spare itself a look at every pass of a camera (the variants
index, the first held pass, the held keys, the newest and oldest read) always says what
a look at every pass would."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.stages.dedup import CameraPasses, DedupPolicy, fold_read, forget, settle
from schemas.plates import within_one_edit
from tests.factories import NOW, a_read

POLICY = DedupPolicy(window=timedelta(seconds=20), settle_seconds=2.0, fuzzy_min_length=5)
steps = st.lists(
    st.tuples(
        st.text(alphabet="AB8O0C", min_size=4, max_size=6),  # plates close to each other
        st.floats(min_value=0, max_value=60),  # camera time, seconds
        st.floats(min_value=0, max_value=3),  # worker time since the last step
        st.sampled_from(["fold", "fold", "fold", "settle", "forget"]),
    ),
    max_size=40,
)


def check(camera: CameraPasses) -> None:
    passes = camera.passes
    assert list(camera.held()) == [k for k, p in passes.items() if p.held is not None]
    held = [p.opened for p in passes.values() if p.held is not None]
    quiet = camera.last_arrival + POLICY.forget_after_seconds
    expected = min(held) + POLICY.settle_seconds if held else quiet
    assert camera.next_due(POLICY) == expected
    for key in passes:
        near = [k for k in passes if k == key or within_one_edit(k, key)]
        # Candidates may be two edits apart (a transposition), never miss a near one.
        assert [k for k in camera.candidates(key) if k in near] == near
    if passes:
        seen = [p.last_seen for p in passes.values()]
        assert camera.newest is None or camera.newest >= max(seen)
        assert camera.oldest is None or camera.oldest <= min(seen)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_the_caches_agree_with_every_pass(sequence: list[tuple[str, float, float, str]]) -> None:
    camera = CameraPasses()
    now = 1000.0
    for plate, at, elapsed, action in sequence:
        now += elapsed
        if action == "fold":
            fold_read(camera, a_read(plate=plate, collected_at=NOW + timedelta(seconds=at)), now,
                      POLICY)  # fmt: skip
        elif action == "settle":
            settle(camera, now, POLICY)
        else:
            forget(camera)
        check(camera)
