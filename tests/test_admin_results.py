"""The results screen, its export and refresh, the listing's leader, the dashboard panel."""

import csv
import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from .helpers import days_ago, seed, started_days_ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(demo):
    started_days_ago(demo, 7)
    for n in range(5):
        seed(demo, "control", days_ago(n), 340, 34, source="ads")
        seed(demo, "b", days_ago(n), 330, 60, source="ads")
        seed(demo, "c", days_ago(n), 330, 33)
    return demo


def url(experiment, **query):
    from urllib.parse import urlencode

    path = f"/admin/experiments/results/{experiment.pk}/"
    return f"{path}?{urlencode(query)}" if query else path


def test_results_screen_shows_table_verdict_chart_and_breakdowns(seeded, admin_client):
    response = admin_client.get(url(seeded))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Winner: b" in html
    assert "<td>1700</td>" in html and "<td>300</td>" in html  # control visitors, b conversions
    assert html.count("<polyline") == 6  # 3 variants, 2 charts
    assert "By UTM source" in html and "ads" in html
    assert 'data-refresh-seconds="60"' in html  # running: refreshes itself
    assert "wagtail_experiments/results.js" in html


def test_goal_selector_and_date_range(seeded, admin_client):
    html = admin_client.get(url(seeded, goal="lead", since=days_ago(1).isoformat(),
                                until=days_ago(0).isoformat())).content.decode()
    assert "2000 visitors" in html  # (340 + 330 + 330) visitors a day, 2 days
    bad = admin_client.get(url(seeded, since=days_ago(0).isoformat(),
                               until=days_ago(3).isoformat()))
    assert "must come before its end" in bad.content.decode()


def test_csv_export_of_table_and_series(seeded, admin_client):
    response = admin_client.get(url(seeded, export="csv"))
    assert response.headers["Content-Disposition"].endswith('landing-hero-results.csv"')
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header = rows[1]
    b = dict(zip(header, rows[3], strict=True))
    assert (b["key"], b["visitors"], b["conversions"]) == ("b", "1650", "300")
    assert float(b["lift"]) == pytest.approx((300 / 1650) / (170 / 1700) - 1)
    daily = rows[rows.index(["daily series"]) + 2:]
    assert len(daily) == 3 * 5


def test_fragment_for_the_periodic_refresh(seeded, admin_client):
    html = admin_client.get(url(seeded, fragment=1)).content.decode()
    assert "<table" in html and "<html" not in html


def test_srm_warning_explains_itself(demo, admin_client):
    for n in range(3):
        seed(demo, "control", days_ago(n), 900, 90)
        seed(demo, "b", days_ago(n), 300, 30)
        seed(demo, "c", days_ago(n), 300, 30)
    html = admin_client.get(url(demo)).content.decode()
    assert "Sample ratio mismatch" in html and "not trustworthy" in html


def test_results_need_the_view_permission(seeded, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="x")
    group = Group.objects.create(name="Admin only")
    group.permissions.add(Permission.objects.get(codename="access_admin"))
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    assert client.get(url(seeded)).status_code in (302, 403)
    group.permissions.add(Permission.objects.get(codename="view_experiment"))
    assert client.get(url(seeded)).status_code == 200


def test_listing_shows_the_leader(seeded, admin_client):
    html = admin_client.get("/admin/experiments/").content.decode()
    assert "b (winner)" in html
    assert f"/admin/experiments/results/{seeded.pk}/" in html


def test_dashboard_panel_lists_running_experiments(seeded, admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert "Running experiments" in html and "Landing page hero" in html
    assert 'w-status--primary">winner</span>' in html
