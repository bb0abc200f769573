"""Stored data can never break a screen: events whose metadata the statistics read, written
by an old version or by other code, leave every screen, export and API working."""

import csv
import io
import json

import pytest
from django.test import Client

from wagtail_experiments.models import Event, Lead, LeadForm
from wagtail_experiments.results import experiment_results

from .conftest import BROWSER_UA
from .helpers import SERVER, visitor_in

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


# Leads: what cannot be stored is refused, and exports write anything safely ----------------

LEADS = f"{API}/leads"


def lead_visitor(demo):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(demo, "b")
    client.get("/landing/")
    return client


@pytest.mark.parametrize("name", ["Ada\ud800", "Ada\x01", "\x1bAda", "Ada\udfff Lovelace"])
def test_a_lead_with_unstorable_text_is_a_400_naming_the_field(demo, name):
    # json.dumps writes a lone surrogate as the escape "\ud800", as a hostile client would.
    body = json.dumps({"form": "demo-lead", "data": {"name": name, "email": "a@x.test"}})
    response = lead_visitor(demo).post(LEADS, body, content_type="application/json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == ["data.name"]
    assert "control characters" in errors[0]["message"]
    assert not Lead.objects.exists()


def test_the_html_lead_form_shows_an_error_for_control_characters(demo):
    client = lead_visitor(demo)
    response = client.post("/landing/", {"wexp_lead_form": "demo-lead", "name": "Ada\x01",
                                          "email": "a@x.test"})
    assert response.status_code == 200
    assert "Remove the control characters" in response.content.decode()
    assert not Lead.objects.exists()


def test_tabs_and_line_breaks_are_fine(demo):
    body = {"form": "demo-lead", "data": {"name": "Ada\tLovelace\r\n", "email": "a@x.test"}}
    response = lead_visitor(demo).post(LEADS, body, content_type="application/json")
    assert response.status_code == 201


@pytest.mark.parametrize("value", ["a\ud800", "\x07bell"])
def test_event_metadata_and_urls_with_unstorable_text_are_refused(demo, value):
    client = lead_visitor(demo)
    for event in (
        {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "1",
         "metadata": {"note": value}},
        {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "2",
         "url": f"https://x.test/{value}"},
    ):
        response = client.post(f"{API}/events", json.dumps(event),
                               content_type="application/json")
        assert response.status_code == 400, event
    assert not Event.objects.exists()


FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", " =1+1", "\t=1", "\u3000=1", "\uff1d1+1",
            "\uff0b1", "\uff20A1", "\r=1"]


@pytest.fixture
def hostile_leads(demo):
    """Leads stored before these checks (or by other code): formulas, control characters and
    an unpaired surrogate (SQLite stores one; PostgreSQL cannot, so it gets the rest)."""
    from django.db import connection

    lead_form = LeadForm.objects.get(slug="demo-lead")
    names = [*FORMULAS, "bell\x07", "esc\x1b[31m"]
    if connection.vendor == "sqlite":
        names.append("lone\ud800")
    for index, name in enumerate(names):
        Lead.objects.create(form=lead_form, email=f"{index}@x.test",
                            data={"name": name, "email": f"{index}@x.test"},
                            utm_source=name if "\ud800" not in name else "")
    Lead.objects.create(form=lead_form, email="plain@x.test",
                        data={"name": "Plain", "email": "plain@x.test"})
    return len(names) + 1


def test_the_csv_export_keeps_every_row_and_defuses_every_formula(hostile_leads, admin_client):
    response = admin_client.get("/admin/experiments/leads/?export=csv")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == hostile_leads
    for row in rows:
        for cell in row.values():
            stripped = cell.lstrip(" \t\r\n\u3000")
            assert stripped[:1] not in ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d",
                                        "\uff20") or cell.startswith("'"), cell
            assert not any(ord(c) < 32 and c not in "\t\r\n" for c in cell), cell
    assert any(cell == "'=1+1" for row in rows for cell in row.values())


def test_the_xlsx_export_opens_with_every_row(hostile_leads, admin_client):
    from openpyxl import load_workbook

    response = admin_client.get("/admin/experiments/leads/?export=xlsx")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = workbook.active
    assert sheet.max_row == hostile_leads + 1  # the header
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


@pytest.mark.parametrize("user_agent", ["", "curl/8.5.0", "python-requests/2.32.3",
                                        "Googlebot/2.1 (+http://www.google.com/bot.html)"])
def test_events_from_bots_and_clients_without_a_user_agent_are_not_counted(demo, user_agent):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(demo, "b")
    client.get("/landing/")  # a real exposure, then a script replays its cookie
    scripted = Client(HTTP_USER_AGENT=user_agent) if user_agent else Client()
    scripted.cookies["wexp_vid"] = client.cookies["wexp_vid"].value
    event = {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "e1"}
    response = scripted.post(f"{API}/events", json.dumps(event), content_type="application/json")
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 0 and "bot" in body["rejected"][0]["error"]
    assert not Event.objects.exists()


# Naming a visitor is for servers ----------------------------------------------------------


def test_a_browser_cannot_name_a_visitor_or_have_its_cookie_replaced(demo):
    """A chosen id chooses the variant (the hash seed is public), and a cross-site link
    to the API used to replace the visitor's cookie with one of the attacker's choosing."""
    chosen = visitor_in(demo, "c")
    browser = Client(HTTP_USER_AGENT=BROWSER_UA)
    browser.cookies["wexp_vid"] = own = visitor_in(demo, "b")
    for url, method in (
        (f"{API}/assignment?path=/landing/&visitor_id={chosen}", "get"),
        (f"{API}/events?visitor_id={chosen}", "post"),
        (f"{API}/leads?visitor_id={chosen}", "post"),
        (f"/api/v2/pages/find/?html_path=/landing/&visitor_id={chosen}", "get"),
    ):
        if method == "get":
            response = browser.get(url)
        else:
            body = {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "1"}
            response = browser.post(url, json.dumps(body), content_type="application/json")
        assert response.status_code == 403, url
        assert "wexp_vid" not in response.cookies, url
        assert browser.cookies["wexp_vid"].value == own
    assert not Event.objects.exists() and not Lead.objects.exists()
    from wagtail_experiments.models import Exposure

    assert not Exposure.objects.exists()


def test_a_wrong_server_key_is_refused_and_a_right_one_sets_no_cookie(demo):
    chosen = visitor_in(demo, "c")
    url = f"{API}/assignment?path=/landing/&visitor_id={chosen}"
    wrong = Client(HTTP_USER_AGENT=BROWSER_UA, HTTP_X_EXPERIMENTS_KEY="guess")
    assert wrong.get(url).status_code == 403
    server = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    response = server.get(url)
    assert response.status_code == 200 and response.json()["variant"] == "c"
    assert not response.cookies  # the server's response is not the visitor's browser


def test_without_server_keys_nobody_may_name_a_visitor(demo, settings):
    settings.WAGTAIL_EXPERIMENTS = {}
    server = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    assert server.get(f"{API}/assignment?path=/landing/&visitor_id={visitor_in(demo, 'b')}"
                      ).status_code == 403


# Found by review: corners of the same rules --------------------------------------------------


def test_xml_noncharacters_are_refused_too(demo):
    body = json.dumps({"form": "demo-lead", "data": {"name": "Ada\uffff", "email": "a@x.test"}})
    response = lead_visitor(demo).post(LEADS, body, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["path=//[abc", "path=/[x"])
def test_paths_and_urls_that_do_not_parse_are_a_400(demo, query):
    response = Client(HTTP_USER_AGENT=BROWSER_UA).get(f"{API}/assignment?{query}")
    assert response.status_code in (400, 404)
    event = {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "1",
             "url": "http://[x/"}
    response = lead_visitor(demo).post(f"{API}/events", json.dumps(event),
                                      content_type="application/json")
    assert response.status_code == 400


def test_an_email_longer_than_stored_is_a_field_error_on_both_databases(demo):
    address = "a" * 250 + "@x.test"
    body = json.dumps({"form": "demo-lead", "data": {"name": "Ada", "email": address}})
    response = lead_visitor(demo).post(LEADS, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "data.email"


def test_a_bots_lead_is_kept_but_counts_in_no_experiment(demo):
    from wagtail_experiments.models import GoalCompletion

    scripted = Client()  # no User-Agent
    scripted.cookies["wexp_vid"] = visitor_in(demo, "b")
    body = json.dumps({"form": "demo-lead", "data": {"name": "Bot", "email": "b@x.test"}})
    assert scripted.post(LEADS, body, content_type="application/json").status_code == 201
    lead = Lead.objects.get()
    assert lead.visitor_id == "" and not lead.variants.exists()
    assert not GoalCompletion.objects.exists() and not Event.objects.exists()


def test_lead_rows_written_by_other_code_export(demo, admin_client):
    Lead.objects.create(form=LeadForm.objects.get(slug="demo-lead"), data=["not", "a", "dict"])
    for export in ("csv", "xlsx"):
        response = admin_client.get(f"/admin/experiments/leads/?export={export}")
        assert response.status_code == 200
        b"".join(response.streaming_content)
