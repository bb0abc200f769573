"""The sandbox's demo content, as `make demo` loads it."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from wagtail.models import Page, Site

from sandbox_site.home.demo import ADMIN_PASSWORD, ADMIN_USERNAME
from wagtail_experiments.models import Experiment

from .conftest import BROWSER_UA

pytestmark = pytest.mark.django_db


def test_demo_content_is_idempotent_and_prints_the_login():
    first, second = StringIO(), StringIO()
    call_command("load_demo_content", "--no-history", stdout=first)
    pages = Page.objects.count()
    call_command("load_demo_content", "--no-history", stdout=second)
    assert Page.objects.count() == pages
    assert Experiment.objects.count() == 2
    assert f"username {ADMIN_USERNAME!r}, password {ADMIN_PASSWORD!r}" in second.getvalue()


def test_the_demo_site_answers_on_the_port_it_is_served_on():
    call_command("load_demo_content", "--no-history", "--port", "8123", stdout=StringIO())
    site = Site.objects.get(is_default_site=True)
    assert (site.hostname, site.port) == ("127.0.0.1", 8123)
    assert site.root_url == "http://127.0.0.1:8123"


def test_the_demo_history_goes_through_the_recording_code(demo):
    """A week of visitors: every count on the screens adds up to what was recorded."""
    from django.db.models import Sum
    from django.utils import timezone

    from sandbox_site.home.history import load_demo_history
    from wagtail_experiments.models import DailyRollup, Exposure, GoalCompletion, Lead
    from wagtail_experiments.results import experiment_results

    recorded = load_demo_history(demo, days=8, daily_visitors=60)
    assert recorded > 300
    assert load_demo_history(demo) == 0  # it has visitors already: left alone
    exposures = Exposure.objects.filter(experiment=demo)
    assert exposures.count() == recorded  # full coverage: every visitor is in it
    assert DailyRollup.objects.filter(experiment=demo, goal="").aggregate(
        n=Sum("visitors"))["n"] == recorded
    # Eight whole days before today, in the site's time zone: no half-empty last day.
    today = DailyRollup.day_of()
    days = {DailyRollup.day_of(at) for at in exposures.values_list("created_at", flat=True)}
    assert days == {today - timezone.timedelta(days=n) for n in range(1, 9)}
    leads = Lead.objects.filter(form__slug="demo-lead").count()
    assert leads > 0
    assert GoalCompletion.objects.filter(experiment=demo, goal="lead").count() == leads
    demo.refresh_from_db()
    assert DailyRollup.day_of(demo.started_at) == today - timezone.timedelta(days=8)
    results = experiment_results(demo)
    assert sum(variant["visitors"] for variant in results["variants"]) == recorded
    assert {goal["name"]: goal["role"] for goal in results["goals"]}["purchase"] == "guardrail"
    purchase = next(goal for goal in results["goals"] if goal["name"] == "purchase")
    assert purchase["revenue"]["variants"][0]["mean"] > 0


def test_the_demo_shows_a_finished_experiment_serving_its_winner(demo):
    from sandbox_site.home import history
    from wagtail_experiments.results import experiment_results

    experiment = history.load_finished_experiment()
    assert history.load_finished_experiment().pk == experiment.pk
    assert (experiment.status, experiment.winner.key, experiment.serve_winner) == (
        "completed", "green", True)
    results = experiment_results(experiment)
    assert results["outcome"]["winner"] == "green" and results["outcome"]["winner_served"]
    assert results["verdict"]["reason"] in {"winner", "not_significant", "collecting_data"}
    assert results["visitors"] > 3000


def test_demo_experiment_is_running_as_specified(demo):
    assert demo.slug == "landing-hero" and demo.status == "running"
    assert demo.hash_seed == "landing-hero" and demo.coverage == 100
    assert [(v.key, int(v.weight)) for v in demo.ordered_variants()] == [
        ("control", 34), ("b", 33), ("c", 33),
    ]
    assert demo.control_page.url == "/landing/"
    # Variants are drafts with the control's title, served from their pinned revisions.
    pages = {v.key: v for v in demo.variants.all()}
    assert pages["control"].page.live and pages["control"].revision is None
    for key in ("b", "c"):
        assert not pages[key].page.live and pages[key].is_pinned
        assert pages[key].page.title == pages["control"].page.title


def test_demo_landing_page_carries_the_cta_goal(demo):
    html = Client(HTTP_USER_AGENT=BROWSER_UA).get("/landing/").content.decode()
    assert 'data-experiment-goal="cta"' in html
    assert "data-block-id=" in html


def test_printed_admin_login_works(demo):
    call_command("load_demo_content", stdout=StringIO())
    client = Client()
    assert client.login(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    assert client.get("/admin/").status_code == 200
