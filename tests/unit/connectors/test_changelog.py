"""A changelog partition read back (``connectors/kafka/changelog.py``), without Kafka."""

from __future__ import annotations

from connectors.kafka.changelog import CHECKPOINT_KEY, Restored, checkpoint_value


def test_the_last_value_of_each_key_is_the_state_and_tombstones_forget() -> None:
    restored = Restored()
    for key, value in [
        (b"a", b"1"), (b"b", b"2"), (CHECKPOINT_KEY, checkpoint_value(7)),
        (b"a", b"3"), (b"b", None), (None, b"keyless"), (CHECKPOINT_KEY, checkpoint_value(9)),
    ]:  # fmt: skip
        restored.apply(key, value)
    assert restored.entries == {b"a": b"3"}
    assert restored.checkpoint == 9


def test_state_covers_the_input_only_once_its_checkpoint_reached_the_committed_offset() -> None:
    restored = Restored()
    assert restored.covers(None), "nothing ever committed: no state is the state"
    assert not restored.covers(5), "offsets committed, their state not read yet"
    restored.apply(CHECKPOINT_KEY, checkpoint_value(4))
    assert not restored.covers(5)
    restored.apply(CHECKPOINT_KEY, checkpoint_value(5))
    assert restored.covers(5)
