"""Stored data can never break a screen: events whose metadata the statistics read, written
by an old version or by other code, leave every screen, export and API working."""

import pytest
from django.test import Client

from wagtail_experiments.models import Event
from wagtail_experiments.results import experiment_results

from .conftest import BROWSER_UA
from .helpers import visitor_in

pytestmark = pytest.mark.django_db

API = "/_experiments/api"

POISONED_TIME_SPENT = ["abc", "1e400", "NaN", True, None, {"ms": 1}, [1], "", " 12", "-5", -5,
                       "12abc", 10**30]


@pytest.fixture
def poisoned(demo):
    """Funnel events of variant b whose ``metadata.time_spent_ms`` is anything but a plain
    number, beside two good ones (1 s and 3 s)."""
    variant = demo.variants.get(key="b")
    values = [1000, 3000, *POISONED_TIME_SPENT]
    for index, value in enumerate(values):
        Event.objects.create(
            experiment=demo, variant=variant, visitor_id=f"v{index}", event_id=f"e{index}",
            type="custom", goal="lead", step=1, metadata={"time_spent_ms": value},
        )
    return demo


def test_the_funnel_averages_only_plain_numbers(poisoned):
    funnel = experiment_results(poisoned, goal="lead")["funnel"]
    step = next(v for v in funnel["variants"] if v["key"] == "b")["steps"][0]
    assert step["visitors"] == 2 + len(POISONED_TIME_SPENT)
    assert step["mean_time_spent_ms"] == pytest.approx(2000.0)


def test_every_screen_export_and_api_still_answers(poisoned, admin_client):
    pk = poisoned.pk
    for url in (
        "/admin/",
        "/admin/experiments/",
        f"/admin/experiments/results/{pk}/",
        f"/admin/experiments/results/{pk}/?goal=lead",
        f"/admin/experiments/results/{pk}/?goal=lead&export=csv",
        "/admin/experiments/events/",
        "/admin/experiments/events/?export=csv",
        "/admin/experiments/events/?export=xlsx",
        f"{API}/experiments/landing-hero/results?goal=lead",
    ):
        assert admin_client.get(url).status_code == 200, url


@pytest.mark.parametrize("value", ["abc", True, None, -1, 10**12, {"ms": 1}, [1]])
def test_the_events_api_refuses_what_the_funnel_cannot_read(demo, value):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(demo, "b")
    client.get("/landing/")
    event = {"type": "custom", "experiment": "landing-hero", "goal": "lead", "step": 1,
             "id": "e1", "metadata": {"time_spent_ms": value}}
    response = client.post(f"{API}/events", event, content_type="application/json")
    assert response.status_code == 400
    assert "time_spent_ms" in response.content.decode()
    assert not Event.objects.exists()
    event["metadata"]["time_spent_ms"] = 1234.5
    response = client.post(f"{API}/events", event, content_type="application/json")
    assert response.status_code in (200, 201, 202), response.content
