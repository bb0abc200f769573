"""Lead forms: HTML and JSON submission, attribution, conversions, notifications."""

import json
import re

import pytest
from django.core import mail
from django.test import Client

from wagtail_experiments.models import DailyRollup, Event, GoalCompletion, Lead
from wagtail_experiments.results import experiment_results

from .conftest import BROWSER_UA
from .helpers import served_heading, served_key, visitor_in

pytestmark = pytest.mark.django_db

VALID = {"wexp_lead_form": "demo-lead", "name": "Ada Lovelace", "email": "ada@example.com"}


def visitor_of(experiment, key, *, csrf_checks=False, landing="/landing/"):
    client = Client(HTTP_USER_AGENT=BROWSER_UA, enforce_csrf_checks=csrf_checks)
    client.cookies["wexp_vid"] = visitor_in(experiment, key)
    response = client.get(landing)
    assert served_key(response) == key
    return client, response


def csrf_token_of(response):
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())[1]


def test_landing_page_shows_the_lead_form_with_csrf_and_honeypot(demo):
    _, response = visitor_of(demo, "b")
    html = response.content.decode()
    assert 'id="lead-demo-lead"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="wexp_website"' in html and 'aria-hidden="true"' in html
    assert 'name="email"' in html and 'name="name"' in html


def test_html_submission_saves_an_attributed_lead_and_redirects(demo):
    client, page = visitor_of(demo, "b", csrf_checks=True, landing="/landing/?utm_source=ads")
    response = client.post(
        "/landing/", {**VALID, "csrfmiddlewaretoken": csrf_token_of(page)},
        HTTP_REFERER="https://search.test/",
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/landing/?lead-sent=demo-lead#lead-demo-lead"
    lead = Lead.objects.get()
    assert lead.data == {"name": "Ada Lovelace", "email": "ada@example.com"}
    assert lead.email == "ada@example.com"
    assert [v.key for v in lead.variants.all()] == ["b"]
    assert lead.page_id == demo.variants.get(key="b").page_id
    assert (lead.utm_source, lead.referrer) == ("ads", "https://search.test/")
    assert lead.visitor_id == client.cookies["wexp_vid"].value

    thanks = client.get(response.headers["Location"])
    assert served_key(thanks) == "b"
    assert "The guide is on its way" in thanks.content.decode()


def test_html_submission_requires_the_csrf_token(demo):
    client, _ = visitor_of(demo, "b", csrf_checks=True)
    assert client.post("/landing/", VALID).status_code == 403
    assert not Lead.objects.exists()


def test_errors_are_shown_on_the_visitors_own_variant(demo):
    client, _ = visitor_of(demo, "c")
    response = client.post("/landing/", {**VALID, "email": "not-an-address", "name": ""})
    assert response.status_code == 200
    assert served_heading(response) == "c"
    html = response.content.decode()
    assert "Enter a valid email address." in html
    assert "This field is required." in html
    assert 'value="not-an-address"' in html
    assert not Lead.objects.exists()


def test_honeypot_submissions_look_successful_but_store_nothing(
    demo, django_capture_on_commit_callbacks
):
    client, _ = visitor_of(demo, "b")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/landing/", {**VALID, "wexp_website": "http://spam.test"})
    assert response.status_code == 302
    assert not Lead.objects.exists() and not mail.outbox


def test_thank_you_page_redirect(demo):
    from wagtail_experiments.models import LeadForm

    LeadForm.objects.filter(slug="demo-lead").update(thank_you_page=demo.control_page.get_parent())
    client, _ = visitor_of(demo, "b")
    assert client.post("/landing/", VALID).headers["Location"] == "/"


def test_lead_counts_one_conversion_per_visitor(demo):
    client, _ = visitor_of(demo, "b")
    client.post("/landing/", VALID)
    client.post("/landing/", {**VALID, "name": "Ada again"})
    assert Lead.objects.count() == 2
    assert Event.objects.filter(type="conversion", goal="lead").count() == 2
    assert GoalCompletion.objects.filter(goal="lead").count() == 1
    results = {v["key"]: v for v in experiment_results(demo)["variants"]}
    assert (results["b"]["visitors"], results["b"]["conversions"]) == (1, 1)
    assert DailyRollup.objects.get(goal="lead").events == 2


def test_notification_email_is_sent_and_the_data_never_logged(
    demo, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level("DEBUG")
    client, _ = visitor_of(demo, "control")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/landing/", VALID)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["sales@example.com"]
    assert "Demo lead form" in message.subject
    assert "email: ada@example.com" in message.body
    assert "ada@example.com" not in caplog.text and "Lovelace" not in caplog.text


def test_lead_without_an_experiment_is_stored_without_attribution(demo):
    demo.pause()
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.get("/landing/")
    client.post("/landing/", VALID)
    lead = Lead.objects.get()
    assert not lead.variants.exists() and lead.visitor_id == ""
    assert not Event.objects.exists()


# JSON ----------------------------------------------------------------------------------


def post_json(client, body):
    return client.post("/_experiments/api/leads", json.dumps(body), content_type="application/json")


def test_json_submission_creates_an_attributed_lead(demo):
    client, _ = visitor_of(demo, "c")
    body = {"form": "demo-lead", "data": {"name": "Grace", "email": "g@x.test"}}
    response = post_json(client, body)
    assert response.status_code == 201
    lead = Lead.objects.get(pk=response.json()["id"])
    assert [v.key for v in lead.variants.all()] == ["c"]
    assert GoalCompletion.objects.get(goal="lead").variant.key == "c"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"form": "demo-lead", "data": {"name": "Grace"}}, "data.email", "required"),
        ({"form": "demo-lead", "data": {"name": "G", "email": "no"}}, "data.email", "valid email"),
        ({"form": "demo-lead", "data": {"name": "G\x00", "email": "g@x.test"}}, "data.name",
         "Null characters"),
        ({"form": "missing", "data": {}}, "form", "No lead form"),
        ({"form": "demo-lead", "data": {"name": {"nested": 1}}}, "data.name", ""),
        ({"form": "demo-lead"}, "data", ""),
        ({"form": "demo-lead", "data": {}, "variant": "b"}, "variant", ""),
    ],
)
def test_json_validation_errors_are_per_field_and_store_nothing(demo, body, field, message):
    client, _ = visitor_of(demo, "b")
    response = post_json(client, body)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any(error["field"].startswith(field) and message in error["message"] for error in errors)
    assert not Lead.objects.exists() and not Event.objects.exists()


def test_a_tracking_failure_keeps_the_lead(demo, monkeypatch, caplog):
    from wagtail_experiments import tracking

    def broken(*args, **kwargs):
        raise RuntimeError("rollups unavailable")

    monkeypatch.setattr(tracking, "record_events", broken)
    client, _ = visitor_of(demo, "b")
    assert client.post("/landing/", VALID).status_code == 302
    assert Lead.objects.count() == 1
    assert "Could not count lead" in caplog.text and "ada@example.com" not in caplog.text
