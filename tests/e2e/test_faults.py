"""The fault suite (benchmarks/faults.py), small: 300 reads through the real ingest and
one real worker while the worker is SIGKILLed once, the Kafka broker is SIGKILLed once
and Cassandra is stopped (SIGSTOP) for 15 s.

It runs its own Kafka and Cassandra (its own cache folder and ports, stopped at the end),
never the shared ones, so it can kill them.

Asserted: no accepted read lost, no expected hit lost, no hit on a topic not entitled
to it, and the pipeline drained (the worker's consumer group committed everything, so
what is missing would not still come).

Asserted too: exactly once to partners, ``duplicate_deliveries == 0`` (share commits its
deliveries with its input in Kafka transactions; the suite reads the agency topics
read_committed). NOT asserted: ``reads_duplicated`` (one camera read stored under two
attempts' read ids, when dedup's state lost the first attempt in a kill), reported only.
"""

from __future__ import annotations

import pytest

from benchmarks.faults import FAULTS, FaultOptions, run_faults
from pipelines.settings import REPO_ROOT
from tests.conftest import free_port


@pytest.mark.timeout(1800)
def test_nothing_accepted_is_lost_or_misdelivered_through_kills_and_an_outage() -> None:
    result = run_faults(
        FaultOptions(
            reads=300,
            seed=11,
            worker_kills=1,
            cassandra_outage_seconds=15,
            post_seconds=75,
            drain_timeout=600,
            cache_dir=REPO_ROOT / ".cache" / "faults-test",
            # Free ports, so a suite of another checkout running at once cannot collide.
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            cassandra_port=free_port(),
            cassandra_storage_port=free_port(),
        )
    )
    print(result)
    assert sorted(set(result["faults_injected"])) == sorted(FAULTS)
    assert result["worker_restarts"] >= 1
    assert result["consumer_lag_at_end"] == 0, "the pipeline did not drain"
    assert result["reads_accepted"] == 300  # cameras retry until a 202
    assert result["hits_expected"] > 0
    assert result["reads_lost"] == 0
    assert result["reads_unexpected"] == 0
    assert result["hits_lost"] == 0
    assert result["misdeliveries"] == 0
    assert result["duplicate_deliveries"] == 0, "a hit reached an agency twice"
    assert isinstance(result["reads_duplicated"], int)
    assert result["reads_duplicated"] >= 0
