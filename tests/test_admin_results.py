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
    assert html.count("<polyline") == 12  # 3 variants, 2 charts, drawn wide and for a phone
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

    def section(title):
        start = next(i for i, r in enumerate(rows) if r and r[0] == title)
        end = next((i for i in range(start, len(rows)) if not rows[i]), len(rows))
        return [dict(zip(rows[start + 1], r, strict=True)) for r in rows[start + 2:end]]

    assert section("verdict")[0]["reason"] == "winner" and section("verdict")[0]["winner"] == "b"
    b = section("variant table")[1]
    assert (b["key"], b["visitors"], b["conversions"]) == ("b", "1650", "300")
    assert float(b["lift"]) == pytest.approx((300 / 1650) / (170 / 1700) - 1)
    assert float(b["lift_ci_low"]) > 0
    goals = section("goals")
    assert {(g["goal"], g["key"]) for g in goals} >= {("lead", "control"), ("lead", "b")}
    assert next(g for g in goals if g["key"] == "b" and g["goal"] == "lead")["outcome"] == "better"
    utm = section("utm sources")
    assert {(u["utm_source"], u["key"], u["visitors"]) for u in utm} >= {("ads", "b", "1650")}
    daily = section("daily series")
    assert len(daily) == 3 * 5 and all(d["cumulative_ci_low"] for d in daily)


def test_the_csv_export_defuses_a_visitor_s_utm_source(seeded, admin_client):
    seed(seeded, "b", days_ago(0), 5, 1, source="=HYPERLINK(1)")
    content = admin_client.get(url(seeded, export="csv")).content.decode()
    rows = list(csv.reader(io.StringIO(content)))
    assert ["'=HYPERLINK(1)", "b", "5", "1", "2.0"] in rows
    assert not any(cell.startswith("=") for r in rows for cell in r)


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


def test_lifecycle_steps_from_the_results_return_to_them(seeded, admin_client):
    """Pause, complete and promote from the results screen's buttons, as an analyst would:
    each lands back on the results; promoting names the winner, happens once, and after
    serving only publishing is left."""
    import re
    from html import unescape

    def button(html, label):
        link = re.search(rf'<a href="([^"]+)"[^>]*>\s*(?:<[^>]+>\s*)*{label}', html)
        assert link, f"no {label} button"
        return unescape(link.group(1))

    results = url(seeded)
    pause = button(admin_client.get(results).content.decode(), "Pause")
    assert "next=" in pause
    response = admin_client.post(pause, {"next": results})
    assert (response.status_code, response["Location"]) == (302, results)

    complete = button(admin_client.get(results).content.decode(), "Complete")
    winner = seeded.variants.get(key="b")
    response = admin_client.post(complete, {"winner": winner.pk, "next": results})
    assert response["Location"] == results

    promote = button(admin_client.get(results).content.decode(), "Promote winner")
    confirmation = admin_client.get(promote).content.decode()
    assert "Make the winner, Benefit headline (Landing), what every visitor sees." in confirmation
    assert 'name="next"' in confirmation
    response = admin_client.post(promote, {"mode": "serve", "next": results})
    assert response["Location"] == results
    seeded.refresh_from_db()
    assert seeded.promotion_mode == "serve"

    # Served to everyone: promoting again can only publish it onto the control page.
    html = admin_client.get(results).content.decode()
    form = admin_client.get(button(html, "Promote winner")).content.decode()
    assert 'value="publish"' in form and 'value="serve"' not in form
    admin_client.post(button(html, "Promote winner"), {"mode": "publish", "next": results})
    seeded.refresh_from_db()
    assert seeded.promotion_mode == "publish"
    assert "Promote winner" not in admin_client.get(results).content.decode()


def test_a_lifecycle_step_never_returns_to_another_site(seeded, admin_client):
    response = admin_client.post(f"/admin/experiments/pause/{seeded.pk}/",
                                 {"next": "https://evil.example/phish"})
    assert response["Location"] == "/admin/experiments/"


def test_utm_sources_and_the_funnel_are_charts_above_their_tables(seeded, admin_client):
    import re

    from wagtail_experiments.models import Event, Goal

    Goal.objects.get_or_create(experiment=seeded, name="signup", defaults={"kind": "event"})
    variant = seeded.variants.get(key="b")
    for visitor, last_step in (("v1", 3), ("v2", 2), ("v3", 1), ("v4", 3)):
        for step in range(1, last_step + 1):
            Event.objects.create(experiment=seeded, variant=variant, visitor_id=visitor,
                                 event_id=f"{visitor}-{step}", type="custom", goal="signup",
                                 step=step)
    html = admin_client.get(url(seeded)).content.decode()
    utm = html[html.index("By UTM source"):html.index('class="listing wexp-utm"')]
    utm = utm[:utm.index('class="wexp-narrow"')]  # the chart drawn wide
    # ads: control and b; no source: c. Empty cells draw no bar.
    bars = re.findall(r"<title>([^<]*)</title></rect>", utm)
    assert sorted(bars) == ["(none), c: 10%", "ads, b: 18%", "ads, control: 10%"]

    funnel_html = admin_client.get(url(seeded, goal="signup")).content.decode()
    funnel = funnel_html[funnel_html.index(">Funnel<"):funnel_html.index("wexp-funnel")]
    funnel = funnel[:funnel.index('class="wexp-narrow"')]
    assert re.findall(r"<title>([^<]*)</title></rect>", funnel) == [
        "Step 1, b: 100%", "Step 2, b: 75%", "Step 3, b: 50%"]
