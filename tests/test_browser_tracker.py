"""The tracker and the lead form in a real browser: headless Chromium via Playwright."""

import time
from pathlib import Path

import pytest
from django.test.utils import override_settings

from wagtail_experiments.models import Event, Exposure, Lead

from .conftest import BROWSER_UA

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page(chromium):
    # Headless Chromium announces itself as "HeadlessChrome", which bot detection rightly
    # excludes; these tests play a person's browser.
    context = chromium.new_context(user_agent=BROWSER_UA)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def site(live_server):
    from sandbox_site.home.demo import load_demo_content

    load_demo_content()
    return live_server


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def open_landing(page, site, query=""):
    response = page.goto(f"{site.url}/landing/{query}")
    assert response.status == 200
    return response.headers["x-experiment-variant"].split("=", 1)[1]


def test_cta_click_reaches_the_database_attributed_to_the_served_variant(site, page):
    served = open_landing(page, site)
    block_id = page.locator("a.cta").evaluate("a => a.closest('[data-block-id]').dataset.blockId")
    page.click("a.cta")
    assert wait_for(lambda: Event.objects.filter(goal="cta").exists())
    event = Event.objects.get(goal="cta")
    assert (event.type, event.variant.key, event.block_id) == ("click", served, block_id)
    assert event.visitor_id == Exposure.objects.get().visitor_id
    assert event.url.endswith("/landing/")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "landing-after-cta-click.png"), full_page=True)


def test_track_api_sends_custom_events_with_fresh_ids(site, page):
    served = open_landing(page, site)
    page.evaluate(
        "() => { window.wagtailExperiments.track('video-played', {value: 3, step: 1,"
        " metadata: {seconds: 12}}); window.wagtailExperiments.track('video-played');"
        " window.wagtailExperiments.flush(); }"
    )
    assert wait_for(lambda: Event.objects.filter(goal="video-played").count() == 2)
    events = Event.objects.filter(goal="video-played").order_by("value")
    assert {event.variant.key for event in events} == {served}
    assert len({event.event_id for event in events}) == 2
    first = events.exclude(value=None).get()
    assert (first.type, first.value, first.step) == ("custom", 3, 1)
    assert first.metadata == {"seconds": 12}


def test_events_survive_navigating_away(site, page):
    open_landing(page, site)
    page.evaluate("() => window.wagtailExperiments.track('signup')")
    page.goto(f"{site.url}/")  # before the batching delay has passed
    assert wait_for(lambda: Event.objects.filter(goal="signup").exists())


@override_settings(WAGTAIL_EXPERIMENTS={"EXPOSURE_MODE": "client"})
def test_client_side_exposure_is_recorded_once_the_page_renders(site, page):
    served = open_landing(page, site, "?utm_source=browser-test")
    assert wait_for(lambda: Exposure.objects.exists())
    exposure = Exposure.objects.get()
    assert (exposure.variant.key, exposure.utm_source) == (served, "browser-test")


def test_lead_form_in_the_browser(site, page):
    served = open_landing(page, site)
    page.fill("input[name=name]", "Ada Lovelace")
    page.fill("input[name=email]", "ada@example.com")
    page.click("#lead-demo-lead button[type=submit]")
    page.wait_for_selector(".lead-form__success")
    assert "on its way" in page.inner_text(".lead-form__success")
    lead = Lead.objects.get()
    assert [variant.key for variant in lead.variants.all()] == [served]
    assert Event.objects.get(type="conversion").variant.key == served


def test_lead_form_errors_in_the_browser(site, page):
    open_landing(page, site)
    page.fill("input[name=name]", "Ada")
    page.fill("input[name=email]", "not-an-address")
    page.click("#lead-demo-lead button[type=submit]")
    page.wait_for_selector(".lead-form__error")
    assert "valid email" in page.inner_text("#lead-demo-lead")
    assert not Lead.objects.exists()


def test_headless_client_module_in_a_browser(site, page):
    """client.js as a front end uses it: assignment, a tracked click, a lead, and local
    bucketing from the published config that agrees with the server."""
    # Requests one at a time: SQLite under the threaded live server crashes on concurrent
    # queries (PostgreSQL does not mind), so no favicon request runs beside the API calls.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    # A page of the site that is not under test: no cookie yet.
    assert page.goto(f"{site.url}/admin/login/", wait_until="networkidle").status == 200
    page.evaluate(
        """async () => {
            const m = await import('/static/wagtail_experiments/client.js');
            window.experiments = m;
            window.client = m.createClient({ baseUrl: '/_experiments/api', flushDelayMs: 50 });
            window.assignment = await client.getAssignment('/landing/?utm_source=browser');
            client.track({ type: 'click', experiment: assignment.experiment, goal: 'cta' });
            await client.flush();
        }"""
    )
    # The beacon lands before the next call.
    assert wait_for(lambda: Event.objects.filter(goal="cta").exists())
    time.sleep(0.5)
    outcome = page.evaluate(
        """async () => {
            const lead = await client.submitLead(
                'demo-lead', { name: 'Ada', email: 'ada@example.com' });
            let invalid = null;
            try {
                await client.submitLead('demo-lead', { name: 'Ada', email: 'not an address' });
            } catch (error) {
                invalid = { status: error.status, fields: error.body.errors.map((e) => e.field) };
            }
            const config = await client.getConfig();
            const landing = config.experiments.find((item) => item.slug === 'landing-hero');
            return { assignment, lead, invalid,
                     local: experiments.bucket(landing, assignment.visitor_id) };
        }"""
    )
    assignment = outcome["assignment"]
    assert assignment["experiment"] == "landing-hero"
    assert outcome["local"] == assignment["variant"]
    exposure = Exposure.objects.get()
    assert (exposure.visitor_id, exposure.variant.key, exposure.utm_source) == (
        assignment["visitor_id"], assignment["variant"], "browser",
    )
    assert Event.objects.get(goal="cta").variant.key == assignment["variant"]
    lead = Lead.objects.get(pk=outcome["lead"]["id"])
    assert [variant.key for variant in lead.variants.all()] == [assignment["variant"]]
    assert outcome["invalid"] == {"status": 400, "fields": ["data.email"]}
    assert Lead.objects.count() == 1
