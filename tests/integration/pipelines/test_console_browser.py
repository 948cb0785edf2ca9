"""The web console in a real headless Chromium on the real servers (Kafka, Cassandra,
``lprx api`` over HTTPS): a wrong second factor refused; login with the TOTP, a search
with purpose and case number showing its results and map, a crop, and a disposition of
a hit in the inbox that reaches the dispositions topic; a password change due; a BCA
notice filed by the agency's administrator. Screenshots in
``tests-artifacts/console/``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import cv2
import numpy as np
import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from connectors.cassandra import CassandraStore, connect
from connectors.cassandra.cameras import CameraRegistry
from connectors.kafka.reader import read_values
from pipelines.api.wiring import identity_service
from pipelines.services import cameras
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.cameras import CameraLocation
from schemas.people import Principal, Role
from schemas.records import CameraKind, Hit, HitDisposition, PlateCrop, utcnow
from tests.conftest import provision, unique_settings, wait_for
from tests.factories import a_hit, a_read, an_entry
from tests.integration.pipelines.browser import chromium, screenshot_path
from tests.integration.pipelines.served import PASSWORD, person, served_api

LAKESIDE, RIVERTON = "MN9990606", "MN9990707"
CODEC = SingleObjectCodec()
# Each page writes its audit events to Kafka before it answers: on CI's two busy cores
# that can take longer than Playwright's default of 5 s.
expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def world(servers: Settings) -> Iterator[dict[str, object]]:
    """Two agencies' reads, a hit of Lakeside with its crop, Lakeside's investigator,
    and the API serving the console."""
    settings = provision(unique_settings(servers, topic_partitions=1))
    now = utcnow()
    reads = [
        a_read(
            plate="KRT417",
            agency_ori=LAKESIDE,
            collected_at=now - timedelta(minutes=m),
            latitude=lat,
            longitude=lon,
            received_at=now,
        )
        for m, lat, lon in ((5, 44.9781, -93.2650), (50, 44.9512, -93.2210))
    ] + [
        a_read(
            plate="KRT417",
            agency_ori=RIVERTON,
            collected_at=now - timedelta(minutes=9),
            latitude=45.01,
            longitude=-93.3,
            received_at=now,
        )
    ]
    image = np.full((60, 200, 3), 235, np.uint8)
    cv2.putText(image, "KRT417", (10, 42), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (20, 20, 20), 3)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    hit = a_hit(
        read=reads[0], matched_at=now, entry=an_entry(plate="KRT417", owning_agency_ori=LAKESIDE)
    )
    with CassandraStore(settings, create_schema=False) as store:
        assert all(o.ok for o in store.write_reads(reads, now))
        crop = PlateCrop(
            read_id=reads[0].read_id,
            agency_ori=LAKESIDE,
            camera_id="cam-1",
            collected_at=reads[0].collected_at,
            expires_at=reads[0].expires_at,
            jpeg=jpeg,
        )
        assert all(o.ok for o in store.write_crops([crop], now))
        assert all(o.ok for o in store.write_hits([hit], now))
    totp = person(settings, "inv.lake", LAKESIDE, Role.INVESTIGATOR)
    with served_api(settings) as url, chromium() as browser:
        yield {
            "settings": settings,
            "url": url,
            "browser": browser,
            "totp": totp,
            "reads": reads,
            "hit": hit,
        }
    cluster, session = connect(settings)
    try:
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
    finally:
        cluster.shutdown()


def new_page(world: dict[str, object]) -> tuple[BrowserContext, Page]:
    browser = world["browser"]
    assert isinstance(browser, Browser)
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    return context, context.new_page()


def log_in(page: Page, url: str, code: str) -> None:
    page.goto(f"{url}/console/search")
    expect(page).to_have_url(f"{url}/console/login?next=/console/search")
    expect(page.locator("#banner")).to_contain_text("Every access is monitored")
    page.fill("#username", "inv.lake")
    page.fill("#password", PASSWORD)
    page.fill("#code", code)
    page.click("#login")


def test_a_wrong_second_factor_is_refused(world: dict[str, object]) -> None:
    totp = world["totp"]
    assert isinstance(totp, pyotp.TOTP)
    url = str(world["url"])
    context, page = new_page(world)
    try:
        wrong = "000000" if totp.now() != "000000" else "111111"
        log_in(page, url, wrong)
        expect(page.locator("#problems")).to_be_visible()
        expect(page).to_have_url(f"{url}/console/login")
        page.screenshot(path=screenshot_path("01-wrong-second-factor"), full_page=True)
        assert not [c for c in context.cookies() if c["name"] == "lprx_session"]
    finally:
        context.close()


def test_login_search_with_map_crop_and_a_disposition(world: dict[str, object]) -> None:
    totp, settings = world["totp"], world["settings"]
    assert isinstance(totp, pyotp.TOTP) and isinstance(settings, Settings)
    url = str(world["url"])
    hit, reads = world["hit"], world["reads"]
    assert isinstance(hit, Hit) and isinstance(reads, list)
    context, page = new_page(world)
    try:
        log_in(page, url, totp.now())
        expect(page).to_have_url(f"{url}/console/search")
        cookie = next(c for c in context.cookies() if c["name"] == "lprx_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"

        page.fill("#plate", "KRT417")
        page.select_option("#purpose", "stolen_vehicle")
        page.fill("#case_number", "26-004512")
        page.fill("#factual_basis", "Vehicle reported stolen, owner statement on file.")
        page.screenshot(path=screenshot_path("02-search-form"), full_page=True)
        page.click("#search")
        rows = page.locator("#results tbody tr")
        expect(rows).to_have_count(2)  # Lakeside's two reads; Riverton shares none
        expect(page.locator("#results")).not_to_contain_text(RIVERTON)
        for found in reads[:2]:
            expect(page.locator("#results")).to_contain_text(found.read_id)
        expect(page.locator("#map svg circle")).to_have_count(2)
        expect(page.locator("#map svg text.label").first).to_contain_text("KRT417")
        page.screenshot(path=screenshot_path("03-search-results-and-map"), full_page=True)

        page.click("text=Hits inbox")
        row = page.locator(f"#hit-{hit.hit_id}")
        expect(row).to_contain_text("KRT417")
        row.locator("input[name=case_number]").fill("26-004512")
        row.locator("input[name=factual_basis]").fill("Verifying the hit before a stop.")
        row.locator("text=Show crop").click()
        expect(page.locator("#crop")).to_be_visible()
        assert page.locator("#crop").evaluate("img => img.naturalWidth") == 200
        page.screenshot(path=screenshot_path("04-plate-crop"), full_page=True)

        page.go_back()
        page.reload()
        row = page.locator(f"#hit-{hit.hit_id}")
        row.locator("select[name=disposition]").select_option("CORRECT")
        row.locator("input[name=note]").fill("Vehicle stopped, stolen confirmed.")
        row.locator("text=Record").click()
        expect(page.locator("#done")).to_contain_text(hit.hit_id)
        page.screenshot(path=screenshot_path("05-hits-inbox-disposed"), full_page=True)
    finally:
        context.close()

    def sent() -> list[HitDisposition] | None:
        values = read_values(settings, settings.topic("dispositions"), 100, 5)
        found = [HitDisposition.decode(CODEC, v) for v in values]
        return [d for d in found if d.hit_id == hit.hit_id] or None

    disposition = wait_for(sent, 30, "the disposition on its topic")[0]
    assert disposition.decided_by == "inv.lake" and disposition.decided_by_agency_ori == LAKESIDE
    assert disposition.disposition.value == "CORRECT"


def test_a_password_an_administrator_set_is_changed_first(world: dict[str, object]) -> None:
    settings = world["settings"]
    assert isinstance(settings, Settings)
    url = str(world["url"])
    with identity_service(settings) as (_store, identity):
        new = identity.add_person("new.lake", LAKESIDE, frozenset({Role.INVESTIGATOR}), PASSWORD,
                                  "admin.lake", must_change_password=True)  # fmt: skip
    totp = pyotp.parse_uri(new.totp_uri)
    assert isinstance(totp, pyotp.TOTP)
    context, page = new_page(world)
    try:
        page.goto(f"{url}/console/login?next=/console/search")
        page.fill("#username", "new.lake")
        page.fill("#password", PASSWORD)
        page.fill("#code", totp.now())
        page.click("#login")
        expect(page).to_have_url(f"{url}/console/password?next=/console/search")
        expect(page.locator("#due")).to_contain_text("set by an administrator")
        page.goto(f"{url}/console/hits")  # any other page sends the person back
        expect(page).to_have_url(f"{url}/console/password?next=/console/hits")
        page.fill("#current_password", PASSWORD)
        page.fill("#new_password", "new lake password 42")
        page.fill("#confirm_password", "new lake password 42")
        page.screenshot(path=screenshot_path("06-password-change-due"), full_page=True)
        page.click("#change")
        expect(page).to_have_url(f"{url}/console/hits")
        expect(page.locator("h1")).to_contain_text("Hits")
    finally:
        context.close()


def test_an_administrator_files_a_bca_notice(world: dict[str, object]) -> None:
    settings = world["settings"]
    assert isinstance(settings, Settings)
    url = str(world["url"])
    totp = person(settings, "admin.lake", LAKESIDE, Role.AGENCY_ADMIN)
    admin = Principal("admin.lake", LAKESIDE, frozenset({Role.AGENCY_ADMIN}), "session")
    installed = utcnow().date() - timedelta(days=2)
    with CassandraStore(settings, create_schema=False) as store:
        registry = CameraRegistry(store.session, store.keyspace)
        place = CameraLocation(44.9351, -93.3344, "Hwy 7 at Louisiana Ave", installed)
        planned = cameras.plan_registration(registry, admin, "hwy7", CameraKind.FIXED,
                                            installed, place)  # fmt: skip
        registry.save_camera(planned.camera)
        registry.save_notice(planned.notice)  # as `lprx cameras add` makes it
    notice_id = planned.notice.notice_id
    context, page = new_page(world)
    try:
        page.goto(f"{url}/console/login")
        page.fill("#username", "admin.lake")
        page.fill("#password", PASSWORD)
        page.fill("#code", totp.now())
        page.click("#login")
        page.click("text=BCA notices")  # from the navigation
        expect(page).to_have_url(f"{url}/console/notices")
        row = page.locator(f"#notice-{notice_id}")
        expect(row).to_contain_text("Hwy 7 at Louisiana Ave")
        row.locator("input[name=reference]").fill("BCA receipt 2026-4471")
        page.screenshot(path=screenshot_path("07-bca-notices"), full_page=True)
        page.click(f"#file-{notice_id}")
        expect(page.locator("#done")).to_contain_text(notice_id)
    finally:
        context.close()
    with CassandraStore(settings, create_schema=False) as store:
        filed = CameraRegistry(store.session, store.keyspace).notice(LAKESIDE, notice_id)
    assert filed is not None and (filed.filed_by, filed.filing_reference) == (
        "admin.lake", "BCA receipt 2026-4471",
    )  # fmt: skip
