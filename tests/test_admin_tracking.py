"""Admin screens for leads (personal data) and raw events: permissions and exports."""

import csv
import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from wagtail_experiments.models import Lead

from .conftest import BROWSER_UA
from .helpers import served_key, visitor_in

pytestmark = pytest.mark.django_db

LEADS = "/admin/experiments/leads/"
EVENTS = "/admin/experiments/events/"


@pytest.fixture
def leads(demo):
    """Two leads: one from a visitor of variant b landing from 'ads', one of control."""
    for key, email, utm in (("b", "b@example.com", "ads"), ("control", "c@example.com", "")):
        client = Client(HTTP_USER_AGENT=BROWSER_UA)
        client.cookies["wexp_vid"] = visitor_in(demo, key)
        assert served_key(client.get(f"/landing/?utm_source={utm}")) == key
        client.post(
            "/landing/", {"wexp_lead_form": "demo-lead", "name": key, "email": email}
        )
    assert Lead.objects.count() == 2
    return demo


def editor(django_user_model, *permissions):
    user = django_user_model.objects.create_user("editor", password="x")
    group = Group.objects.create(name="Lead viewers")
    group.permissions.add(Permission.objects.get(codename="access_admin"))
    for codename in permissions:
        group.permissions.add(Permission.objects.get(codename=codename))
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client


def export_rows(response):
    content = b"".join(response.streaming_content).decode() if response.streaming else (
        response.content.decode()
    )
    return list(csv.reader(io.StringIO(content)))


def test_leads_listing_filters_and_search(leads, admin_client):
    response = admin_client.get(LEADS)
    assert response.status_code == 200
    html = response.content.decode()
    assert "b@example.com" in html and "c@example.com" in html

    variant_b = leads.variants.get(key="b")
    html = admin_client.get(LEADS, {"variant": variant_b.pk}).content.decode()
    assert "b@example.com" in html and "c@example.com" not in html
    html = admin_client.get(LEADS, {"utm_source": "ads"}).content.decode()
    assert "b@example.com" in html and "c@example.com" not in html
    html = admin_client.get(LEADS, {"q": "c@example"}).content.decode()
    assert "c@example.com" in html and "b@example.com" not in html
    html = admin_client.get(LEADS, {"experiment": leads.pk}).content.decode()
    assert html.count("@example.com") >= 2


def test_leads_export_contains_the_submissions(leads, admin_client):
    rows = export_rows(admin_client.get(LEADS, {"export": "csv"}))
    header, *data = rows
    assert "Email" in header[2] or "e-mail" in header[2].lower()
    by_email = {row[2]: row for row in data}
    assert set(by_email) == {"b@example.com", "c@example.com"}
    assert "name: b; email: b@example.com" in by_email["b@example.com"]
    assert "landing-hero=b" in by_email["b@example.com"]
    assert "ads" in by_email["b@example.com"]
    xlsx = admin_client.get(LEADS, {"export": "xlsx"})
    assert xlsx.status_code == 200 and "spreadsheet" in xlsx.headers["Content-Type"]


def test_lead_inspect_view(leads, admin_client):
    lead = Lead.objects.get(email="b@example.com")
    response = admin_client.get(f"{LEADS}inspect/{lead.pk}/")
    assert response.status_code == 200
    assert "b@example.com" in response.content.decode()


def test_leads_cannot_be_added_or_edited_even_by_superusers(leads, admin_client):
    lead = Lead.objects.first()
    for url in (f"{LEADS}new/", f"{LEADS}edit/{lead.pk}/"):
        response = admin_client.get(url)
        assert response.status_code in (302, 403)
        assert "b@example.com" not in response.content.decode()


def test_leads_need_the_view_permission(leads, django_user_model):
    without = editor(django_user_model)
    response = without.get(LEADS)
    assert response.status_code in (302, 403)
    assert "@example.com" not in response.content.decode()
    assert without.get(LEADS, {"export": "csv"}).status_code in (302, 403)
    django_user_model.objects.filter(username="editor").delete()
    Group.objects.filter(name="Lead viewers").delete()

    with_permission = editor(django_user_model, "view_lead")
    assert "b@example.com" in with_permission.get(LEADS).content.decode()


def test_events_listing_and_export(leads, admin_client):
    response = admin_client.get(EVENTS, {"type": "conversion"})
    assert response.status_code == 200
    rows = export_rows(admin_client.get(EVENTS, {"export": "csv", "goal": "lead"}))
    header, *data = rows
    assert len(data) == 2
    assert {row[header.index("Variant")] for row in data} == {"b", "control"}
    assert admin_client.get(f"{EVENTS}new/").status_code in (302, 403)


def test_lead_forms_are_snippets(demo, admin_client):
    response = admin_client.get("/admin/snippets/wagtail_experiments/leadform/")
    assert response.status_code == 200
    assert "Demo lead form" in response.content.decode()


def test_delete_permission_alone_does_not_reveal_leads(leads, django_user_model):
    client = editor(django_user_model, "delete_lead")
    for url in (LEADS, f"{LEADS}?export=csv", f"{LEADS}inspect/{Lead.objects.first().pk}/"):
        response = client.get(url)
        assert response.status_code in (302, 403), url
        assert b"@example.com" not in response.content


def test_csv_export_defuses_spreadsheet_formulas(demo, admin_client):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(demo, "b")
    client.get("/landing/?utm_source=%3DHYPERLINK(%22http://evil.test%22)")
    client.post("/landing/", {"wexp_lead_form": "demo-lead", "name": "=1+1", "email": "f@x.test"})
    _header, row = export_rows(admin_client.get(LEADS, {"export": "csv"}))
    assert "'=HYPERLINK" in ",".join(row)
    assert not any(cell.startswith("=") for cell in row)


def test_recorded_data_cannot_be_edited_even_with_model_permissions(leads, django_user_model):
    """The viewsets use the registered policies (on Wagtail 7.4 through the package's own
    registry): a lead or event is never edited or added in the admin, whatever Django model
    permissions a group holds."""
    client = editor(django_user_model, "view_lead", "change_lead", "add_lead", "view_event",
                    "change_event", "add_event")
    assert client.get(LEADS).status_code == 200
    lead = Lead.objects.first()
    for url in (f"{LEADS}edit/{lead.pk}/", f"{LEADS}add/", f"{EVENTS}add/"):
        assert client.get(url).status_code in (302, 403, 404), url


def test_a_change_permission_alone_does_not_show_leads(leads, django_user_model):
    client = editor(django_user_model, "change_lead", "delete_lead")
    assert client.get(LEADS).status_code in (302, 403)
