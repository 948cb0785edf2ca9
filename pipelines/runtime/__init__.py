"""The Faust runtime: thin agents around the plain stage functions of ``pipelines/stages``.

app.py           the faust.App of a worker, the agents of its stages (wiring only)
wiring.py        what an agent module needs of Faust: topics, agents, tasks, timers, tables
context.py       what the agents share: codec, topics and keys, store, executors
guard.py         the one guard every agent runs its records through
mirror.py        a decoded in-memory view in front of a Faust table
followers.py     the hotlist and agreements, followed from their compacted topics
ocr.py           agent ``ocr``: frames -> fused raw reads, crops stored
normalize.py     agents ``normalize`` and ``dedup-ticks``, the settle timer
passes.py        the dedup passes of this worker, over the ``dedup-vehicle-passes`` table
match.py         agent ``match``: reads -> hits
historical.py    agent ``historical``: a new hotlist entry against the stored reads
share.py         stage ``share``: hits -> agencies exactly once, in Kafka transactions
transport.py     the worker's Faust transport, reading committed records only
sink.py          the batched Cassandra sink the store agents are made of
store.py         agents ``store-reads``, ``store-hits``, ``store-audit``
dispositions.py  agent ``store-dispositions``
"""

from pipelines.runtime.app import ALL_STAGES, Pipeline, create_pipeline

__all__ = ["ALL_STAGES", "Pipeline", "create_pipeline"]
