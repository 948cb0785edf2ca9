"""Hotlist and agreement topics followed into memory, against a real Kafka broker."""

from __future__ import annotations

from connectors.hotlist.files import HotlistSource, parse_csv
from connectors.hotlist.topic import publish_entries
from connectors.kafka.agreements import publish_agreement, revoke_agreement
from connectors.kafka.follower import CompactedTopicFollower
from connectors.kafka.topics import make_producer
from pipelines.runtime.followers import follow_hotlist
from pipelines.settings import Settings
from pipelines.stages.match import HotlistIndex
from pipelines.stages.share import AgreementBook
from schemas import SingleObjectCodec
from schemas.hotlist_policy import HotlistSourceKind, JurisdictionPolicy, NcicFile
from schemas.records import HotlistCategory, HotlistEntry, SharingAgreement
from tests.conftest import wait_for
from tests.factories import an_agreement

CSV = """plate,state,category,case_number,vehicle
ABC123,MN,,,red sedan
XYZ-999,WI,AMBER_ALERT,,
CUS7,MN,CUSTOM,,
"""


def test_hotlist_loads_and_a_new_worker_sees_all_of_it(kafka_settings: Settings) -> None:
    codec = SingleObjectCodec()
    source = HotlistSource("stolen", "NCIC", "MN9990001", HotlistCategory.STOLEN_VEHICLE)
    report = parse_csv(CSV, source)
    assert len(report.entries) == 2 and "case number" in report.errors[0]
    producer = make_producer(kafka_settings, "test")
    assert publish_entries(kafka_settings, producer, codec, report.entries) == 2

    index = HotlistIndex()
    follower: CompactedTopicFollower[HotlistEntry] = CompactedTopicFollower(
        kafka_settings,
        kafka_settings.topic("hotlist"),
        lambda b: HotlistEntry.decode(codec, b),
        lambda _k, e: index.put(e),
        index.retract,
    )
    follower.start()
    try:
        assert follower.wait_caught_up(30)
        assert {e.plate for e in (*index.exact("ABC123"), *index.exact("XYZ999"))} == {
            "ABC123",
            "XYZ999",
        }
        assert index.exact("ABC123")[0].annotations == {"vehicle": "red sedan"}
        # A tombstone retracts the entry on a running follower.
        producer.produce(kafka_settings.topic("hotlist"), key=b"stolen:MN:ABC123", value=None)
        producer.flush(10)
        wait_for(lambda: not index.exact("ABC123"), 20, "the retraction")
        # Garbage on the topic is refused, counted, and does not stop the follower.
        producer.produce(kafka_settings.topic("hotlist"), key=b"junk", value=b"not avro")
        producer.flush(10)
        wait_for(lambda: follower.rejected == 1, 20, "the garbage record to be refused")
        assert len(index) == 1
    finally:
        follower.stop()


def test_agreements_publish_and_revoke(kafka_settings: Settings) -> None:
    codec = SingleObjectCodec()
    producer = make_producer(kafka_settings, "test")
    publish_agreement(kafka_settings, producer, codec, an_agreement())
    book = AgreementBook()
    follower: CompactedTopicFollower[SharingAgreement] = CompactedTopicFollower(
        kafka_settings,
        kafka_settings.topic("agreements"),
        lambda b: SharingAgreement.decode(codec, b),
        lambda _k, a: book.put(a),
        book.revoke,
    )
    follower.start()
    try:
        assert follower.wait_caught_up(30)
        assert [a.partner_agency_ori for a in book.from_owner("MN9990001")] == ["MN9990002"]
        revoke_agreement(kafka_settings, producer, codec, "MN9990001", "MN9990002", "chief")
        wait_for(lambda: not book.from_owner("MN9990001"), 20, "the revocation")
    finally:
        follower.stop()


def test_a_matcher_never_indexes_an_entry_its_jurisdiction_excludes(
    kafka_settings: Settings,
) -> None:
    """Entries on the topic (listed before the policy, say) that the owner's state
    excludes stay out of the match index; the others go in."""
    codec = SingleObjectCodec()
    source = HotlistSource("ncic", "NCIC extract", "MN9990001", HotlistCategory.STOLEN_VEHICLE,
                           kind=HotlistSourceKind.NCIC)  # fmt: skip
    extract = "plate,state,ncic_file\nVEH111,MN,vehicle\nIMM222,MN,immigration_violator\n"
    entries = parse_csv(extract, source).entries
    assert publish_entries(kafka_settings, make_producer(kafka_settings, "test"), codec,
                           entries) == 2  # fmt: skip
    policy = JurisdictionPolicy(excluded_ncic_files=frozenset({NcicFile.IMMIGRATION_VIOLATOR}))
    settings = kafka_settings.model_copy(update={"jurisdiction_policies": {"MN": policy}})
    index = HotlistIndex()
    follower = follow_hotlist(settings, codec, index)
    follower.start()
    try:
        assert follower.wait_caught_up(30)
        assert [e.plate for e in index.exact("VEH111")] == ["VEH111"]
        assert index.exact("IMM222") == [] and len(index) == 1
    finally:
        follower.stop()
