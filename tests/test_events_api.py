"""POST /_experiments/api/events: validation, attribution by the server, idempotency."""

import json

import pytest
from django.test import Client
from django.test.utils import override_settings

from wagtail_experiments.models import DailyRollup, Event, GoalCompletion

from .conftest import BROWSER_UA
from .helpers import exposed_visitor, served_key, visitor_in

pytestmark = pytest.mark.django_db

URL = "/_experiments/api/events"


def post(client, body, content_type="application/json"):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data, content_type=content_type)


def click(event_id="e1", **fields):
    return {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": event_id, **fields}


def purchase(event_id="p1", **fields):
    """A conversion of the demo's revenue goal (values from 0 to 5,000)."""
    return {"type": "conversion", "experiment": "landing-hero", "goal": "purchase",
            "id": event_id, **fields}


def test_event_is_stored_with_the_variant_the_server_served(demo):
    client = exposed_visitor(demo, "c")
    response = post(client, click(block="3f2a-block", url="https://x.test/landing/",
                                  metadata={"label": "Book a demo"}))
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    event = Event.objects.get()
    assert (event.variant.key, event.type, event.goal, event.block_id) == ("c", "click", "cta",
                                                                            "3f2a-block")
    assert event.metadata == {"label": "Book a demo"} and event.value is None
    assert event.visitor_id == client.cookies["wexp_vid"].value


def test_batch_and_replays_are_counted_once(demo):
    client = exposed_visitor(demo, "b")
    batch = {"events": [purchase("a"), purchase("b", value=3), purchase("a")]}
    assert post(client, batch).json() == {"accepted": 2, "duplicates": 1, "rejected": []}
    assert post(client, batch).json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert Event.objects.count() == 2
    rollup = DailyRollup.objects.get(goal="purchase")
    assert (rollup.visitors, rollup.events, rollup.value_sum) == (1, 2, 3.0)


def test_a_visitor_converts_at_most_once_per_goal(demo):
    client = exposed_visitor(demo, "b")
    for event_id in ("c1", "c2", "c3"):
        post(client, purchase(event_id, value=10))
    assert Event.objects.filter(goal="purchase").count() == 3
    assert GoalCompletion.objects.filter(goal="purchase").count() == 1
    rollup = DailyRollup.objects.get(goal="purchase")
    assert (rollup.visitors, rollup.events, rollup.value_sum) == (1, 3, 30.0)


def test_a_variant_sent_by_the_client_is_refused(demo):
    client = exposed_visitor(demo, "control")
    response = post(client, click(variant="b"))
    assert response.status_code == 400
    assert "server derives it" in json.dumps(response.json())
    assert not Event.objects.exists()


def test_events_of_unexposed_visitors_and_unknown_experiments_are_rejected(demo):
    client = exposed_visitor(demo, "b")
    stranger = Client(HTTP_USER_AGENT=BROWSER_UA)
    stranger.cookies["wexp_vid"] = visitor_in(demo, "b")  # never requested /landing/
    response = post(stranger, click())
    assert response.status_code == 202
    assert response.json()["rejected"] == [
        {"index": 0, "error": "This visitor was never exposed to experiment 'landing-hero'."}
    ]
    response = post(client, {"events": [click("ok"), click("x", experiment="nope")]})
    assert response.json()["accepted"] == 1
    assert response.json()["rejected"] == [
        {"index": 1, "error": "Experiment 'nope' is unknown or not running."}
    ]
    demo.pause()
    assert post(client, click("late")).json()["rejected"][0]["error"].endswith("not running.")
    assert Event.objects.count() == 1


def test_logged_in_users_are_recorded(demo, django_user_model):
    client = exposed_visitor(demo, "b")
    user = django_user_model.objects.create_user("member", password="x")
    client.force_login(user)
    post(client, click())
    assert Event.objects.get().user == user


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (click(type="hover"), "type"),
        (click(experiment="Not a slug!"), "experiment"),
        (click(experiment=123), "experiment"),
        ({"type": "click", "experiment": "landing-hero", "goal": "cta"}, "id"),
        (click(event_id="x" * 65), "id"),
        (click(event_id="has space"), "id"),
        ({"type": "click", "experiment": "landing-hero", "id": "1"}, "goal"),
        (click(goal="a\x00b"), "goal"),
        (click(goal="x" * 65), "goal"),
        (click(step=-1), "step"),
        (click(step=10**30), "step"),
        (click(step="2"), "step"),
        (click(step=True), "step"),
        (click(value="12"), "value"),
        (click(value=10**40), "value"),
        (click(metadata=[1, 2]), "metadata"),
        (click(metadata={"k": "v" * 3000}), "metadata"),
        (click(metadata={"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}), "metadata"),
        (click(metadata={"k": "nul\x00"}), "metadata"),
        (click(metadata={"nul\x00key": 1}), "metadata"),
        (click(url="https://x.test/" + "a" * 2000), "url"),
        (click(url="https://x.test/\nSet-Cookie:"), "url"),
        (click(block="not a block id"), "block"),
        (click(unexpected=1), "unexpected"),
    ],
)
def test_invalid_fields_are_a_400_naming_the_field_and_store_nothing(demo, event, field):
    client = exposed_visitor(demo, "b")
    response = post(client, {"events": [click("fine"), event]})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"] == "Invalid event data; nothing was stored."
    assert any(field in error["field"] or field in error["message"] for error in body["errors"])
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ("{not json", 400, "not valid JSON"),
        ('{"type": NaN}', 400, "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, 413, "at most 65536 bytes"),
        ("[" * 30_000 + "]" * 30_000, 400, "nested too deeply"),
        (json.dumps({"events": [click(str(i)) for i in range(101)]}), 413, "at most 100 events"),
        (json.dumps(click(metadata={"pad": "x" * 70_000})), 413, "at most 65536 bytes"),
        ('{"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "1", '
         '"value": 1e400}', 400, "Invalid event data"),
        ('"just a string"', 400, "Invalid event data"),
        (json.dumps({"events": "nope"}), 400, "Invalid event data"),
    ],
    ids=["malformed", "nan", "huge", "deep", "over-count", "oversize", "overflowing-number",
         "string", "not-a-list"],
)
def test_bad_bodies_get_a_clear_error(demo, body, status, detail):
    client = exposed_visitor(demo, "b")
    response = post(client, body)
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [([click()], ""), ("just a string", ""), (None, ""), ({"events": [click(), 5]}, "events.1")],
    ids=["list", "string", "null", "batch-item"],
)
def test_what_is_not_an_object_is_named_plainly(demo, body, field):
    """The error says what a client must send, and names no Python class."""
    response = post(exposed_visitor(demo, "b"), json.dumps(body))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {"field": field, "message": "Value error, must be a JSON object"} in errors
    assert "EventIn" not in response.content.decode()
    assert not Event.objects.exists()


def test_json_only(demo):
    client = exposed_visitor(demo, "b")
    response = client.post(URL, {"type": "click"})  # a form post, as a cross-site form sends
    assert response.status_code == 415
    assert post(client, json.dumps(click()), content_type="text/plain").status_code == 415
    assert not Event.objects.exists()


def test_visitor_cookie_is_required(demo):
    response = post(Client(HTTP_USER_AGENT=BROWSER_UA), click())
    assert response.status_code == 400
    assert "visitor cookie" in response.json()["detail"]


def test_wrong_method(demo):
    assert Client().get(URL).status_code == 405


@override_settings(WAGTAIL_EXPERIMENTS={"API_RATE_LIMIT": "3/m"})
def test_rate_limit(demo):
    client = exposed_visitor(demo, "b")
    statuses = [post(client, click(str(i))).status_code for i in range(5)]
    assert statuses == [202, 202, 202, 429, 429]
    assert Event.objects.count() == 3


@override_settings(WAGTAIL_EXPERIMENTS={"EXPOSURE_MODE": "client"})
def test_client_side_exposure_is_recorded_by_the_impression(demo):
    from wagtail_experiments.models import Exposure

    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(demo, "c")
    assert served_key(client.get("/landing/?utm_source=mail")) == "c"
    assert not Exposure.objects.exists()  # served, but not yet seen in a browser
    assert post(client, click("early")).json()["rejected"]  # not exposed yet

    impression = {"type": "impression", "experiment": "landing-hero", "id": "i1",
                  "url": "http://testserver/landing/?utm_source=mail"}
    assert post(client, impression).json()["accepted"] == 1
    exposure = Exposure.objects.get()
    assert (exposure.variant.key, exposure.utm_source) == ("c", "mail")
    assert post(client, click("after")).json()["accepted"] == 1
    assert post(client, {**impression, "id": "i2"}).json()["accepted"] == 1
    assert Exposure.objects.count() == 1


@override_settings(WAGTAIL_EXPERIMENTS={"EXPOSURE_MODE": "client"})
def test_client_side_exposure_needs_the_servers_assignment(demo):
    from wagtail_experiments.models import Exposure

    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(demo, "c")  # never served the page
    impression = {"type": "impression", "experiment": "landing-hero", "id": "i1"}
    assert post(client, impression).json()["rejected"]
    assert not Exposure.objects.exists()


def test_openapi_schema_and_docs_document_the_errors(db):
    schema = Client().get("/_experiments/api/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert set(paths) >= {"/_experiments/api/events", "/_experiments/api/leads"}
    assert {"202", "400", "403", "413", "415", "429"} <= set(
        paths["/_experiments/api/events"]["post"]["responses"]
    )
    assert Client().get("/_experiments/api/docs").status_code == 200


@override_settings(WAGTAIL_EXPERIMENTS={"API_RATE_LIMIT": "2/m"})
def test_rate_limit_ignores_forged_forwarded_for_headers(demo):
    client = exposed_visitor(demo, "b")
    statuses = [
        client.post(URL, json.dumps(click(str(i))), content_type="application/json",
                    HTTP_X_FORWARDED_FOR=f"10.0.0.{i}" + "0" * 300).status_code
        for i in range(4)
    ]
    assert statuses == [202, 202, 429, 429]
