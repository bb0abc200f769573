"""Consent mode, Do Not Track / Global Privacy Control, and erasing a person's data."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.test.utils import override_settings

from wagtail_experiments.models import Event, Exposure, GoalCompletion, Lead

from .conftest import BROWSER_UA
from .helpers import served_heading, served_key, visitor_in

pytestmark = pytest.mark.django_db

CONSENT = {"REQUIRE_CONSENT": True}
CONSENT_BY_HEADER = {**CONSENT, "CONSENT_CHECK": "tests.helpers.consent_from_header"}


def visitor_of(experiment, key, **headers):
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **headers)
    client.cookies["wexp_vid"] = visitor_in(experiment, key)
    return client


def tracked(response):
    return "X-Experiment-Variant" in response.headers or any(
        name.startswith("wexp_") for name in response.cookies
    )


@override_settings(WAGTAIL_EXPERIMENTS=CONSENT)
def test_without_consent_visitors_see_the_control_uncounted_and_uncookied(demo):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    response = client.get("/landing/")
    assert served_heading(response) == "control" and not tracked(response)
    assert '"experiments": []' in response.content.decode()  # the tracker sends nothing
    assert not Exposure.objects.exists()

    client.cookies["wexp_consent"] = "no"
    assert not tracked(client.get("/landing/"))
    client.cookies["wexp_consent"] = "yes"
    assert tracked(client.get("/landing/"))
    assert Exposure.objects.count() == 1


@override_settings(WAGTAIL_EXPERIMENTS=CONSENT_BY_HEADER)
def test_consent_can_come_from_the_sites_own_check(demo):
    assert not tracked(visitor_of(demo, "b").get("/landing/"))
    assert served_key(visitor_of(demo, "b", HTTP_X_CONSENT="granted").get("/landing/")) == "b"


@override_settings(WAGTAIL_EXPERIMENTS=CONSENT)
def test_events_without_consent_are_refused(demo):
    client = visitor_of(demo, "b")
    client.cookies["wexp_consent"] = "yes"
    assert served_key(client.get("/landing/")) == "b"
    client.cookies["wexp_consent"] = "withdrawn"
    response = client.post(
        "/_experiments/api/events",
        json.dumps({"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "1"}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not Event.objects.exists()


@override_settings(WAGTAIL_EXPERIMENTS=CONSENT)
def test_leads_without_consent_are_kept_without_attribution(demo):
    client = visitor_of(demo, "b")
    client.post("/landing/", {"wexp_lead_form": "demo-lead", "name": "A", "email": "a@x.test"})
    lead = Lead.objects.get()
    assert lead.visitor_id == "" and not lead.variants.exists()
    assert not Event.objects.exists()


@pytest.mark.parametrize("header", ["HTTP_DNT", "HTTP_SEC_GPC"])
def test_do_not_track_and_gpc_are_honoured_when_configured(demo, header):
    with override_settings(WAGTAIL_EXPERIMENTS={"HONOUR_DO_NOT_TRACK": True}):
        response = visitor_of(demo, "b", **{header: "1"}).get("/landing/")
        assert served_heading(response) == "control" and not tracked(response)
    assert served_key(visitor_of(demo, "b", **{header: "1"}).get("/landing/")) == "b"


# Erasure --------------------------------------------------------------------------------


def person_with_history(demo, key, email):
    client = visitor_of(demo, key)
    client.get("/landing/")
    client.post("/_experiments/api/events", json.dumps(
        {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "c1"}
    ), content_type="application/json")
    client.post("/landing/", {"wexp_lead_form": "demo-lead", "name": "P", "email": email})
    return client.cookies["wexp_vid"].value


def erase(*args):
    output = StringIO()
    call_command("experiments_erase", *args, stdout=output)
    return output.getvalue().strip()


def test_erase_by_visitor_removes_everything_of_that_visitor_only(demo):
    visitor_id = person_with_history(demo, "b", "b@x.test")
    other = person_with_history(demo, "c", "c@x.test")
    # "--visitor=<id>": an id may start with "-", which argparse would take for an option.
    assert erase(f"--visitor={visitor_id}") == (
        "Removed 1 exposures, 2 events, 2 goal completions, 1 leads."
    )
    for model in (Exposure, Event, GoalCompletion, Lead):
        assert not model.objects.filter(visitor_id=visitor_id).exists()
        assert model.objects.filter(visitor_id=other).exists()


def test_erase_by_email_follows_the_leads_to_the_visitor(demo):
    visitor_id = person_with_history(demo, "b", "Person@X.test")
    assert erase("--email", "person@x.test").endswith("1 leads, 0 UTM values.")
    assert not Exposure.objects.filter(visitor_id=visitor_id).exists()
    assert not Lead.objects.exists()


def test_erase_needs_a_valid_person():
    with pytest.raises(CommandError, match="Name the person"):
        erase()
    with pytest.raises(CommandError, match="Not a visitor id"):
        erase("--visitor", "x")


def test_utm_values_that_look_like_people_are_dropped_on_the_way_in(demo):
    client = visitor_of(demo, "b")
    long_address = "a" * 88 + "ada%40example.com"  # cut at 100 characters, it would not look
    client.get(f"/landing/?utm_source={long_address}&utm_medium=%2B44%2020%207946%200958"
               "&utm_campaign=sale-2026-11-29&utm_term=call%20020%207946%200958%20now"
               "&utm_content=tel%3A%2B442079460958")
    exposure = Exposure.objects.get()
    assert (exposure.utm_source, exposure.utm_medium) == ("", "")
    assert (exposure.utm_campaign, exposure.utm_term, exposure.utm_content) == (
        "sale-2026-11-29", "", "")
    from wagtail_experiments.models import DailyRollup

    assert set(DailyRollup.objects.values_list("utm_source", flat=True)) == {""}


def test_erase_by_email_finds_every_email_field_and_scrubs_utm_values(demo):
    from wagtail_experiments.models import DailyRollup, LeadForm

    # A lead whose second e-mail field holds the address.
    form = LeadForm.objects.get(slug="demo-lead")
    Lead.objects.create(form=form, email="first@x.test",
                        data={"email": "first@x.test", "other_email": "Ada@X.test"})
    # Rows stored before e-mail-like UTM values were dropped on the way in.
    visitor_id = person_with_history(demo, "b", "someone@x.test")
    Exposure.objects.filter(visitor_id=visitor_id).update(utm_source="ada@x.test")
    rollup = DailyRollup.objects.filter(goal=DailyRollup.EXPOSURES).first()
    DailyRollup.objects.filter(pk=rollup.pk).update(utm_source="ada@x.test")
    visitors_before = sum(DailyRollup.objects.filter(goal=DailyRollup.EXPOSURES)
                          .values_list("visitors", flat=True))
    output = erase("--email", "ada@x.test")
    assert "1 leads" in output and "2 UTM values" in output
    assert not Lead.objects.filter(data__other_email="Ada@X.test").exists()
    assert not Exposure.objects.filter(utm_source__icontains="ada").exists()
    assert not DailyRollup.objects.filter(utm_source__icontains="ada").exists()
    # The anonymous counts still add up.
    assert sum(DailyRollup.objects.filter(goal=DailyRollup.EXPOSURES)
               .values_list("visitors", flat=True)) == visitors_before


def test_erase_takes_a_visitor_id_starting_with_a_dash(db):
    assert erase("--visitor=-AAAAAAAAAAAAAAAAAAAA").startswith("Removed 0 exposures")
