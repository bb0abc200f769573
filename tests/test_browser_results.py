"""The results screen on the demo's data, as an analyst meets it after ``make demo``: in a
real browser (headless Chromium), with no console errors, on a desktop and on a phone.

The screenshots it takes are the guides' (``docs/images/``): with
``WEXP_UPDATE_SCREENSHOTS=1`` they are written there, otherwise to ``test-artifacts/``.
"""

import os
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from wagtail_experiments.models import Experiment
from wagtail_experiments.results import experiment_results
from wagtail_experiments.templatetags.wagtail_experiments_admin import verdict_sentence

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / ("docs/images" if os.environ.get("WEXP_UPDATE_SCREENSHOTS") else
                      "test-artifacts")

# The smallest text of an SVG chart in CSS pixels as drawn: its font size times the
# chart's scale (the SVG's width on screen over its viewBox width).
SMALLEST_RENDERED_TEXT = """svg => {
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    const sizes = [...svg.querySelectorAll("text")].map(
        text => parseFloat(getComputedStyle(text).fontSize) * scale);
    return Math.min(...sizes);
}"""

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # As in test_browser_admin: the admin's parallel requests crash Python's sqlite3 under
    # the threaded live server; CI runs these on PostgreSQL.
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="the admin's parallel requests crash sqlite3 under the threaded live server",
    ),
]


@pytest.fixture
def demo_site(live_server):
    """What ``make demo`` loads: the pages, three weeks of simulated visitors recorded
    through the tracking code, and a completed experiment with its winner served."""
    from django.core.management import call_command

    call_command("load_demo_content", port=int(live_server.url.rpartition(":")[2]))
    return live_server


@pytest.fixture
def analyst(demo_site, chromium):
    """A logged-in admin's browser tab that fails the test on any console error."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{demo_site.url}/admin/login/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "changeme")
    page.click("button[type=submit]")
    page.wait_for_url(f"{demo_site.url}/admin/")
    yield page, demo_site.url, errors
    context.close()
    assert errors == []


def screenshot(page, name):
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def plain(text):
    return re.sub(r"\s+", " ", text).strip()


def test_the_demo_results_lead_with_the_verdict_and_its_picture(analyst):
    page, server, _errors = analyst
    experiment = Experiment.objects.get(slug="landing-hero")
    results = experiment_results(experiment)
    page.goto(f"{server}/admin/experiments/results/{experiment.pk}/")

    # The headline is the verdict function's sentence, on top.
    headline = plain(page.locator(".wexp-verdict").inner_text())
    assert plain(str(verdict_sentence(results["verdict"], results["planning"]))) in headline
    # The lift chart: one row per challenger, an interval bar each.
    lift = page.locator(".wexp-wide svg.wexp-lift-chart")  # a desktop's; phones get another
    assert lift.is_visible() and not page.locator(".wexp-narrow svg.wexp-lift-chart").is_visible()
    challengers = len(results["variants"]) - 1
    assert lift.locator("circle").count() == challengers
    assert lift.locator("rect").count() == challengers
    # Colours say the verdict: the winner's bar is green.
    if results["verdict"]["winner"]:
        assert lift.locator('rect[fill="#2ca25f"]').count() == 1

    # The goal selector shows the primary goal, and the figures are that goal's.
    selected = page.locator("select[name=goal]").input_value()
    assert selected == experiment.primary_goal == results["goal"]
    summary = plain(page.locator(".wexp-summary").inner_text())
    assert f"{results['conversions']} conversions of “{selected}”" in summary
    # UTM sources and the funnel of the demo draw their charts.
    assert page.locator(".wexp-wide svg.wexp-bar-chart").count() >= 1
    screenshot(page, "experiment-results")

    page.emulate_media(color_scheme="dark")
    screenshot(page, "experiment-results-dark")
    page.emulate_media(color_scheme="light")

    # The date picker opens, and a range filters the figures (not the verdict).
    whole = results["visitors"]

    page.locator("input[name=since]").click()
    page.locator(".xdsoft_datetimepicker:visible").wait_for()  # Wagtail's chooser opens
    assert page.locator(".xdsoft_datetimepicker:visible").count() == 1
    page.keyboard.press("Escape")
    since = (date.today() - timedelta(days=3)).isoformat()
    page.fill("input[name=since]", since)
    page.locator("input[name=until]").click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"**since={since}**")
    chosen = experiment_results(experiment, since=date.fromisoformat(since))["visitors"]
    assert 0 < chosen < whole
    summary = plain(page.locator(".wexp-summary").inner_text())
    assert f"{chosen} visitors" in summary
    assert "The verdict is on the whole experiment" in summary

    # A date that is not one says so, and the figures stay on the selected goal.
    page.goto(f"{server}/admin/experiments/results/{experiment.pk}/?since=yesterday")
    assert page.locator(".wexp-filters .error-message").inner_text().strip()
    assert page.locator("select[name=goal]").input_value() == experiment.primary_goal

    # The finished demo experiment says how it ended.
    finished = Experiment.objects.get(slug="signup-button")
    page.goto(f"{server}/admin/experiments/results/{finished.pk}/")
    outcome = plain(page.locator(".wexp-outcome").inner_text()).lower()
    assert "completed" in outcome and finished.winner.key in outcome
    assert "completed" in page.locator(".wexp-status").inner_text().lower()

    # On a phone, every chart fits the screen, its text at least 10 px as rendered, and
    # the header's buttons fit too (the rest are in Wagtail's "Actions" dropdown).
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server}/admin/experiments/results/{experiment.pk}/")
    charts = [chart for chart in page.locator("svg.wexp-chart").all() if chart.is_visible()]
    assert len(charts) >= 4
    for chart in charts:
        box = chart.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 + 1, box
        smallest = chart.evaluate(SMALLEST_RENDERED_TEXT)
        assert smallest >= 10, (chart.get_attribute("aria-label"), smallest)
    # Wide tables scroll within their own box: the screen itself never scrolls sideways.
    main = page.locator("main").evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert main[0] <= main[1], main
    for button in page.locator("header a.button, header button").all():
        if button.is_visible():
            box = button.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390 + 1, box
    screenshot(page, "experiment-results-phone")


def test_lifecycle_buttons_work_from_the_results(analyst):
    page, server, _errors = analyst
    experiment = Experiment.objects.get(slug="landing-hero")
    results_url = f"{server}/admin/experiments/results/{experiment.pk}/"
    page.goto(results_url)

    def header_action(name):
        # Wagtail puts header buttons in a dropdown on narrow screens; a link either way.
        link = page.locator("header").get_by_role("link", name=name)
        if not link.is_visible():
            page.locator("header").get_by_role("button", name="Actions").click()
        link.click()

    header_action("Pause")
    page.get_by_role("button", name="Pause").click()
    page.wait_for_url(results_url)
    assert "paused" in page.locator(".wexp-status").inner_text().lower()
    assert Experiment.objects.get(pk=experiment.pk).status == "paused"

    header_action("Resume")
    page.get_by_role("button", name="Resume").click()
    page.wait_for_url(results_url)
    assert Experiment.objects.get(pk=experiment.pk).status == "running"

    header_action("Complete")
    page.select_option("select[name=winner]", value=str(experiment.variants.get(key="b").pk))
    page.get_by_role("button", name="Complete").click()
    page.wait_for_url(results_url)
    outcome = plain(page.locator(".wexp-outcome").inner_text()).lower()  # badges: capitals
    assert "completed" in outcome and "winner b" in outcome

    header_action("Promote winner")
    assert "Make the winner," in page.locator("main").inner_text()
    page.get_by_label("Serve the winning page at the control URL").check()
    page.get_by_role("button", name="Promote winner").click()
    page.wait_for_url(results_url)
    experiment.refresh_from_db()
    assert (experiment.promotion_mode, experiment.winner.key) == ("serve", "b")
