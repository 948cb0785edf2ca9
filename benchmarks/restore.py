"""How long a transactional stage takes to restore a partition's state from its changelog
(``connectors/kafka/changelog.py``), as share does for each ``hits`` partition it is
given: the time from a rebalance to the first hit it can deliver again.

On the real local Kafka: a 4-partition compacted changelog with ``--entries`` entries
and a checkpoint per partition, restored partition by partition by one reader, with the
reader's settings (``FETCH_WAIT_MS``, ``POLL_S``) and with Kafka's default fetch wait
(500 ms, the consume poll 0.2 s: what the reader had before), alternating, ``--rounds``
times each, in the same run. Prints one JSON object.

    .venv/bin/python benchmarks/restore.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connectors.kafka import changelog  # noqa: E402
from connectors.kafka.changelog import CHECKPOINT_KEY, ChangelogReader  # noqa: E402
from connectors.kafka.topics import (  # noqa: E402
    TopicSpec,
    admin_client,
    bounded_compacted_config,
    ensure_topics,
    make_producer,
)
from connectors.servers import up  # noqa: E402
from pipelines.access import Role, as_role  # noqa: E402
from pipelines.settings import Settings, get_settings  # noqa: E402

PARTITIONS = 4
BEFORE = {"fetch_wait_ms": 500, "poll_s": 0.2}


def restore_all(settings: Settings, topic: str, entries: int) -> list[float]:
    """Seconds per partition, one reader for all (as a share session has)."""
    reader = ChangelogReader(settings, topic)
    try:
        took = []
        for partition in range(PARTITIONS):
            start = time.monotonic()
            restored = reader.restore(partition, entries)
            took.append(time.monotonic() - start)
            assert len(restored.entries) == entries, "not the whole partition restored"
        return took
    finally:
        reader.close()


def run(rounds: int, entries: int) -> dict[str, object]:
    uid = uuid.uuid4().hex[:8]
    settings = as_role(get_settings(), Role.SETUP).model_copy(
        update={"topic_prefix": f"bench-{uid}", "worker_id": f"bench-{uid}"}
    )
    up(settings)
    topic = settings.topic("restore-state")
    ensure_topics(settings, [TopicSpec(topic, PARTITIONS, bounded_compacted_config(settings))])
    producer = make_producer(settings, "bench-restore")
    for partition in range(PARTITIONS):
        for i in range(entries):
            producer.produce(topic, key=b"alert/%d" % i, value=b"{}", partition=partition)
        producer.produce(topic, key=CHECKPOINT_KEY, value=str(entries).encode(),
                         partition=partition)  # fmt: skip
    assert producer.flush(30) == 0
    ours = {"fetch_wait_ms": changelog.FETCH_WAIT_MS, "poll_s": changelog.POLL_S}
    seconds: dict[str, list[list[float]]] = {"before": [], "now": []}
    try:
        for _ in range(rounds):
            with mock.patch.object(changelog, "FETCH_WAIT_MS", BEFORE["fetch_wait_ms"]), \
                    mock.patch.object(changelog, "POLL_S", BEFORE["poll_s"]):  # fmt: skip
                seconds["before"].append(restore_all(settings, topic, entries))
            seconds["now"].append(restore_all(settings, topic, entries))
    finally:
        admin_client(settings).delete_topics([topic])

    def summary(runs: list[list[float]]) -> dict[str, float]:
        # The first partition of a reader also pays for its connection and metadata.
        later = [s for run in runs for s in run[1:]]
        return {
            "all_partitions_median_s": round(statistics.median(sum(r) for r in runs), 3),
            "first_partition_median_s": round(statistics.median(r[0] for r in runs), 3),
            "later_partition_median_s": round(statistics.median(later), 3),
        }

    before, now = summary(seconds["before"]), summary(seconds["now"])
    return {
        "partitions": PARTITIONS,
        "entries_per_partition": entries,
        "rounds": rounds,
        "before": {**BEFORE, **before},
        "now": {**ours, **now},
        "all_partitions_ratio_before_over_now": round(
            before["all_partitions_median_s"] / now["all_partitions_median_s"], 1
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--entries", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(run(args.rounds, args.entries), indent=2))


if __name__ == "__main__":
    main()
