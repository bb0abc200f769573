"""The serving path: bucketing at the control URL, cookies, stickiness, exclusions."""

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from wagtail_experiments.assignment import is_valid_visitor_id
from wagtail_experiments.models import Experiment, Exposure

from .conftest import BROWSER_UA
from .helpers import (
    expected_key,
    publish_variant_pages,
    served_heading,
    served_key,
    signed_assignment_cookie,
    visitor_in,
)

pytestmark = pytest.mark.django_db

# The tables of the serving and tracking path (lead forms are page content, not serving).
SERVING_TABLES = ("experiment", "variant", "exposure", "event", "goalcompletion", "dailyrollup")


def serving_queries(captured):
    return [
        query["sql"]
        for query in captured.captured_queries
        if any(f'"wagtail_experiments_{table}"' in query["sql"] for table in SERVING_TABLES)
    ]


def experiment_cookies(response):
    return {name for name in response.cookies if name.startswith("wexp_")}


def client_for(visitor_id=None, **headers):
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **headers)
    if visitor_id:
        client.cookies["wexp_vid"] = visitor_id
    return client


def test_new_visitors_get_growthbooks_variant_at_the_control_url(demo):
    for key in ("control", "b", "c"):
        for _ in range(3):
            visitor_id = visitor_in(demo, key)
            response = client_for(visitor_id).get("/landing/")
            assert response.status_code == 200
            assert response.headers["X-Experiment-Variant"] == f"landing-hero={key}"
            assert served_heading(response) == key
            assert Exposure.objects.get(visitor_id=visitor_id).variant.key == key


def test_served_keys_match_pure_assignment_for_many_visitors(demo, browser):
    served = {}
    for _ in range(60):
        client = Client(HTTP_USER_AGENT=BROWSER_UA)
        response = client.get("/landing/")
        visitor_id = response.cookies["wexp_vid"].value
        assert served_key(response) == expected_key(demo, visitor_id) == served_heading(response)
        served[served_key(response)] = served.get(served_key(response), 0) + 1
    assert set(served) == {"control", "b", "c"}
    assert Exposure.objects.count() == 60


def test_visitor_cookie_is_a_one_year_httponly_lax_nanoid(demo, browser):
    response = browser.get("/landing/")
    cookie = response.cookies["wexp_vid"]
    assert is_valid_visitor_id(cookie.value)
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 365 * 24 * 60 * 60
    assert not cookie["secure"]
    assignment_cookie = response.cookies["wexp_asg"]
    assert assignment_cookie["httponly"] is True and assignment_cookie["samesite"] == "Lax"


def test_cookies_are_secure_on_https(demo, browser):
    response = browser.get("/landing/", secure=True)
    assert response.cookies["wexp_vid"]["secure"] is True
    assert response.cookies["wexp_asg"]["secure"] is True


def test_responses_at_the_experiment_url_are_private(demo, browser):
    response = browser.get("/landing/")
    assert "private" in response.headers["Cache-Control"]
    assert "Cookie" in response.headers["Vary"]


@override_settings(WAGTAIL_EXPERIMENTS={"PRIVATE_CACHE_CONTROL": False})
def test_private_cache_control_can_be_left_to_the_site(demo, browser):
    response = browser.get("/landing/")
    assert "private" not in response.headers.get("Cache-Control", "")
    assert response.headers["X-Experiment-Variant"].startswith("landing-hero=")


def test_exposure_is_recorded_once_with_landing_utm(demo):
    visitor_id = visitor_in(demo, "b")
    client = client_for(visitor_id)
    client.get("/landing/?utm_source=newsletter&utm_campaign=spring%00sale&utm_medium=" + "x" * 300)
    client.get("/landing/?utm_source=other")
    client.get("/landing/")
    exposure = Exposure.objects.get()
    assert exposure.visitor_id == visitor_id
    assert exposure.variant.key == "b"
    assert exposure.utm_source == "newsletter"
    assert exposure.utm_campaign == "springsale"
    assert exposure.utm_medium == "x" * 100


def test_exposure_rows_stay_unique_even_without_the_cookie_flag(demo):
    visitor_id = visitor_in(demo, "c")
    for _ in range(3):
        # A client that drops the assignment cookie each time, like parallel first requests.
        assert served_key(client_for(visitor_id).get("/landing/")) == "c"
    assert Exposure.objects.filter(visitor_id=visitor_id).count() == 1


def test_returning_visitor_keeps_variant_after_weights_change(demo):
    # A visitor the new weights would move from b to control.
    visitor_id = visitor_in(demo, "b")
    client = client_for(visitor_id)
    assert served_key(client.get("/landing/")) == "b"

    demo.variants.filter(key="control").update(weight=98)
    demo.variants.exclude(key="control").update(weight=1)
    demo.save()  # signals a new route table
    demo.refresh_from_db()

    response = client.get("/landing/")
    assert served_key(response) == "b" == served_heading(response)
    assert "wexp_asg" not in response.cookies  # nothing new to remember


def test_returning_visitor_adds_zero_queries(demo):
    """A returning visitor costs exactly what the page costs with no experiment."""
    counts = {}
    for key in ("control", "b"):
        client = client_for(visitor_in(demo, key))
        client.get("/landing/")  # first visit: bucketing and exposure
        with CaptureQueriesContext(connection) as returning:
            response = client.get("/landing/")
        assert served_key(response) == key
        assert serving_queries(returning) == []
        counts[key] = len(returning)

    demo.pause()
    baseline_client = client_for(visitor_in(demo, "control"))
    baseline_client.get("/landing/")  # warm the route table and Wagtail's site cache
    with CaptureQueriesContext(connection) as baseline:
        response = baseline_client.get("/landing/")
    assert "X-Experiment-Variant" not in response.headers
    assert counts == {"control": len(baseline), "b": len(baseline)}


def test_variant_pages_never_render_stale_snippets(demo):
    """Edited content reached through chooser blocks shows at once on variant pages,
    although the variant page itself is cached in the route table."""
    from wagtail_experiments.models import LeadForm

    client = client_for(visitor_in(demo, "b"))
    assert "Send me the guide" in client.get("/landing/").content.decode()
    lead_form = LeadForm.objects.get(slug="demo-lead")
    lead_form.submit_label = "Edited label"
    lead_form.save()
    response = client.get("/landing/")
    assert served_heading(response) == "b" and "Edited label" in response.content.decode()


def test_new_visitor_costs_an_insert_and_a_rollup_upsert(demo):
    from wagtail_experiments.routing import get_route_table

    get_route_table()
    client = Client(HTTP_USER_AGENT=BROWSER_UA)  # no cookie at all
    with CaptureQueriesContext(connection) as first:
        client.get("/landing/")
    ours = serving_queries(first)
    assert len(ours) == 2
    assert ours[0].startswith('INSERT INTO "wagtail_experiments_exposure"')
    assert 'INSERT INTO "wagtail_experiments_dailyrollup"' in ours[1]  # executemany
    assert "ON CONFLICT" in ours[1]


def test_lost_assignment_cookie_falls_back_to_the_stored_exposure(demo):
    """Cookies cleared (or an entry pruned) and weights changed since: the visitor keeps
    the variant the database recorded, and their events go to the variant they see."""
    import json

    from wagtail_experiments import assignment
    from wagtail_experiments.models import Event

    # A visitor in b now whom the new weights (98/1/1) would put in the control.
    visitor_id = next(
        vid for vid in iter(assignment.new_visitor_id, None)
        if expected_key(demo, vid) == "b"
        and assignment.assign(vid, "landing-hero", [98, 1, 1]) == 0
    )
    assert served_key(client_for(visitor_id).get("/landing/")) == "b"
    demo.variants.filter(key="control").update(weight=98)
    demo.variants.exclude(key="control").update(weight=1)
    demo.save()
    demo.refresh_from_db()
    assert expected_key(demo, visitor_id) == "control"

    returning = client_for(visitor_id)  # the visitor id survived, the assignment did not
    response = returning.get("/landing/")
    assert served_key(response) == "b" == served_heading(response)
    assert "wexp_asg" in response.cookies  # remembered again
    returning.post("/_experiments/api/events", json.dumps(
        {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "e1"}
    ), content_type="application/json")
    assert Event.objects.get().variant.key == "b"
    assert Exposure.objects.filter(visitor_id=visitor_id).count() == 1


# Coverage ------------------------------------------------------------------------------


def test_visitors_outside_coverage_see_the_control_and_are_not_counted(demo):
    from wagtail_experiments.assignment import new_visitor_id

    demo.coverage = 30
    demo.save()
    outside = next(v for v in iter(new_visitor_id, None) if expected_key(demo, v) is None)
    inside = visitor_in(demo, "c")
    outside_client = client_for(outside)
    response = outside_client.get("/landing/")
    assert served_heading(response) == "control"
    assert "X-Experiment-Variant" not in response.headers
    # The cookie remembers "checked, not exposed", never a variant.
    assert f"|{demo.pk}:~:" in response.cookies["wexp_asg"].value
    assert not Exposure.objects.filter(visitor_id=outside).exists()
    assert served_key(client_for(inside).get("/landing/")) == "c"
    # Returning, still outside: no database lookup of their exposure.
    with CaptureQueriesContext(connection) as returning:
        assert served_heading(outside_client.get("/landing/")) == "control"
    assert serving_queries(returning) == []

    demo.coverage = 100
    demo.save()
    demo.refresh_from_db()
    response = outside_client.get("/landing/")
    assert served_key(response) == expected_key(demo, outside) is not None
    assert Exposure.objects.filter(visitor_id=outside).exists()
    # Raising coverage moved nobody who was already in.
    assert served_key(client_for(inside).get("/landing/")) == "c"


# Tampering -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["short", "x" * 4000, "V1StGXR8_Z5jdHi6B-my!", "é" * 21, ""])
def test_malformed_visitor_cookie_is_replaced_not_an_error(demo, bad_id):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = bad_id
    response = client.get("/landing/")
    assert response.status_code == 200
    new_id = response.cookies["wexp_vid"].value
    assert is_valid_visitor_id(new_id) and new_id != bad_id
    assert Exposure.objects.get().visitor_id == new_id


def test_forged_assignment_cookie_cannot_choose_the_variant(demo):
    visitor_id = visitor_in(demo, "control")
    client = client_for(visitor_id)
    client.cookies["wexp_asg"] = f"{visitor_id}|{demo.pk}:b"  # unsigned
    response = client.get("/landing/")
    assert served_key(response) == "control" == served_heading(response)
    assert Exposure.objects.get(visitor_id=visitor_id).variant.key == "control"


def test_assignment_cookie_of_another_visitor_is_ignored(demo):
    visitor_id = visitor_in(demo, "control")
    client = client_for(visitor_id)
    client.cookies["wexp_asg"] = signed_assignment_cookie(visitor_in(demo, "b"), {demo.pk: "b"})
    assert served_key(client.get("/landing/")) == "control"


def test_assignment_to_a_removed_variant_is_bucketed_again(demo):
    visitor_id = visitor_in(demo, "b")
    client = client_for(visitor_id)
    client.cookies["wexp_asg"] = signed_assignment_cookie(visitor_id, {demo.pk: "gone"})
    assert served_key(client.get("/landing/")) == "b"


# Exclusions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_USER_AGENT": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
        {"HTTP_USER_AGENT": "curl/8.5.0"},
        {},  # no user agent at all
        {"HTTP_USER_AGENT": BROWSER_UA, "HTTP_SEC_PURPOSE": "prefetch"},
        {"HTTP_USER_AGENT": BROWSER_UA, "HTTP_SEC_PURPOSE": "prefetch;prerender"},
        {"HTTP_USER_AGENT": BROWSER_UA, "HTTP_PURPOSE": "prefetch"},
    ],
    ids=["googlebot", "curl", "no-user-agent", "sec-purpose", "prerender", "purpose"],
)
def test_bots_and_prefetches_see_the_control_and_are_not_counted(demo, headers):
    visitor_id = visitor_in(demo, "b")
    client = Client(**headers)
    client.cookies["wexp_vid"] = visitor_id
    response = client.get("/landing/")
    assert response.status_code == 200
    assert served_heading(response) == "control"
    assert "X-Experiment-Variant" not in response.headers
    assert experiment_cookies(response) == set()
    assert not Exposure.objects.exists()


def test_bot_detection_is_cached_per_user_agent():
    from wagtail_experiments.exclusions import is_bot_user_agent

    is_bot_user_agent.cache_clear()
    for _ in range(5):
        assert is_bot_user_agent(BROWSER_UA) is False
    info = is_bot_user_agent.cache_info()
    assert (info.misses, info.hits) == (1, 4)


def test_logged_in_editor_sees_control_and_is_not_counted(demo, admin_client):
    admin_client.defaults["HTTP_USER_AGENT"] = BROWSER_UA
    response = admin_client.get("/landing/")
    assert served_heading(response) == "control"
    assert "X-Experiment-Variant" not in response.headers
    assert not Exposure.objects.exists()


def test_editor_can_force_a_variant_without_being_counted(demo, admin_client):
    admin_client.defaults["HTTP_USER_AGENT"] = BROWSER_UA
    response = admin_client.get("/landing/?wexp=landing-hero:c")
    assert served_key(response) == "c" == served_heading(response)
    assert "wexp_asg" not in response.cookies
    assert not Exposure.objects.exists()
    # An unknown key or experiment forces nothing.
    assert served_heading(admin_client.get("/landing/?wexp=landing-hero:zzz")) == "control"
    assert served_heading(admin_client.get("/landing/?wexp=other:c")) == "control"


def test_visitors_cannot_force_a_variant(demo, django_user_model):
    visitor_id = visitor_in(demo, "control")
    anonymous = client_for(visitor_id)
    assert served_key(anonymous.get("/landing/?wexp=landing-hero:b")) == "control"
    member = client_for(visitor_in(demo, "control"))
    member.force_login(django_user_model.objects.create_user("member", password="x"))
    assert served_key(member.get("/landing/?wexp=landing-hero:b")) == "control"


def test_draft_preview_in_the_admin_shows_the_control_page(demo, admin_client):
    admin_client.defaults["HTTP_USER_AGENT"] = BROWSER_UA
    response = admin_client.get(f"/admin/pages/{demo.control_page_id}/view_draft/")
    assert response.status_code == 200
    assert served_heading(response) == "control"
    assert "X-Experiment-Variant" not in response.headers
    assert not Exposure.objects.exists()


def test_non_get_requests_are_not_bucketed(demo):
    client = client_for(visitor_in(demo, "b"))
    response = client.post("/landing/")
    assert "X-Experiment-Variant" not in response.headers
    assert not Exposure.objects.exists()


def test_head_requests_get_the_variant_but_are_not_counted(demo):
    client = client_for(visitor_in(demo, "b"))
    response = client.head("/landing/")
    assert served_key(response) == "b"
    assert not Exposure.objects.exists()


def test_admin_and_other_urls_get_no_cookies(demo, browser):
    # (The demo's home page runs the code-level experiment home-banner: it is not one.)
    for path in ("/admin/login/", "/landing-b/", "/landing-c/"):
        assert experiment_cookies(browser.get(path)) == set()


# Variant pages at their own URL --------------------------------------------------------


def test_variant_page_at_its_own_url_points_search_engines_to_the_control(demo, browser):
    publish_variant_pages(demo, "b")  # a live variant page, rather than a draft
    response = browser.get("/landing-b/")
    assert response.status_code == 200
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert response.headers["Link"] == '<http://localhost/landing/>; rel="canonical"'
    html = response.content.decode()
    assert html.count('rel="canonical"') == 1
    assert '<link rel="canonical" href="http://localhost/landing/"></head>' in html
    assert "X-Robots-Tag" not in browser.get("/landing/").headers


def test_variant_page_is_indexable_again_once_the_experiment_ends(demo, browser):
    publish_variant_pages(demo, "b")
    demo.complete()
    response = browser.get("/landing-b/")
    assert response.status_code == 200 and "X-Robots-Tag" not in response.headers


def test_draft_variant_pages_are_not_found_at_their_own_url(demo, browser):
    for path in ("/landing-b/", "/landing-c/"):
        assert browser.get(path).status_code == 404


# Failures ------------------------------------------------------------------------------


def test_failed_exposure_write_still_serves_the_page(demo, monkeypatch, caplog):
    def broken_insert(*args, **kwargs):
        raise OperationalError("database is down")

    from wagtail_experiments import tracking

    monkeypatch.setattr(tracking, "insert_ignoring_conflicts", broken_insert)
    visitor_id = visitor_in(demo, "b")
    client = client_for(visitor_id)
    response = client.get("/landing/")
    assert response.status_code == 200
    assert served_key(response) == "b" == served_heading(response)
    assert "wexp_asg" not in response.cookies  # not counted yet, so try again next time
    assert "Could not record an exposure" in caplog.text
    assert visitor_id not in caplog.text

    monkeypatch.undo()
    client.get("/landing/")
    assert Exposure.objects.get().variant.key == "b"


def test_broken_route_table_serves_the_page_unchanged(demo, monkeypatch, browser, caplog):
    from wagtail_experiments import routing

    def broken_build(version):
        raise OperationalError("database is down")

    monkeypatch.setattr(routing, "build_route_table", broken_build)
    response = browser.get("/landing/")
    assert response.status_code == 200
    assert served_heading(response) == "control"
    assert "Could not load experiment routes" in caplog.text
    assert browser.get("/landing-b/").status_code == 404  # a draft, as ever


# Lifecycle and schedule ----------------------------------------------------------------


def test_paused_and_completed_experiments_serve_the_control(demo):
    client = client_for(visitor_in(demo, "b"))
    demo.pause()
    assert served_heading(client.get("/landing/")) == "control"
    demo.resume()
    assert served_heading(client.get("/landing/")) == "b"
    demo.complete()
    assert served_heading(client.get("/landing/")) == "control"


def test_expired_experiment_is_never_served(demo):
    from datetime import timedelta

    from django.utils import timezone

    client = client_for(visitor_in(demo, "b"))
    Experiment.objects.filter(pk=demo.pk).update(ends_at=timezone.now() + timedelta(seconds=0.5))
    demo.save(update_fields=["updated_at"])  # any save invalidates the route table
    import time

    time.sleep(0.6)
    assert served_heading(client.get("/landing/")) == "control"
    assert not Exposure.objects.exists()


def test_scheduled_experiment_starts_serving_when_due(demo):
    from datetime import timedelta

    from django.utils import timezone

    demo.complete()
    experiment = Experiment.objects.create(
        name="Scheduled", slug="scheduled", control_page_id=demo.control_page_id,
        starts_at=timezone.now() + timedelta(hours=1),
    )
    for variant in demo.variants.all():
        experiment.variants.create(
            key=variant.key, page_id=variant.page_id, weight=variant.weight,
            is_control=variant.is_control, sort_order=variant.sort_order,
        )
    experiment.start()
    assert experiment.status == Experiment.Status.SCHEDULED
    client = client_for(visitor_in(experiment, "c"))
    assert served_heading(client.get("/landing/")) == "control"

    Experiment.objects.filter(pk=experiment.pk).update(starts_at=timezone.now())
    experiment.refresh_from_db()
    experiment.save()
    assert served_key(client.get("/landing/")) == "c"


# Goal pages ----------------------------------------------------------------------------


def test_visiting_the_goal_page_converts_exposed_visitors_once(demo):
    from sandbox_site.home.models import LandingPage
    from wagtail_experiments.models import Event
    from wagtail_experiments.results import experiment_results

    thanks = demo.control_page.get_parent().add_child(
        instance=LandingPage(title="Thanks", slug="thanks")
    )
    thanks.save_revision().publish()
    demo.goal_page = thanks
    demo.primary_goal = "signup"
    demo.save()

    visitor = client_for(visitor_in(demo, "b"))
    visitor.get("/landing/")
    for _ in range(3):
        assert visitor.get("/thanks/").status_code == 200
    stranger = client_for(visitor_in(demo, "c"))  # never saw the landing page
    stranger.get("/thanks/")
    Client(HTTP_USER_AGENT="Googlebot/2.1").get("/thanks/")

    assert list(Event.objects.values_list("goal", "type", "variant__key")) == [
        ("signup", "conversion", "b")
    ]
    variants = {v["key"]: v for v in experiment_results(demo)["variants"]}
    assert (variants["b"]["visitors"], variants["b"]["conversions"]) == (1, 1)


def test_pages_naming_the_visitors_experiments_are_private(demo):
    publish_variant_pages(demo, "c")
    client = client_for(visitor_in(demo, "b"))
    client.get("/landing/")
    other = client.get("/landing-c/")  # not an experiment URL, but the tracker names it
    assert '"landing-hero"' in other.content.decode()
    assert "private" in other.headers["Cache-Control"] and "Cookie" in other.headers["Vary"]
    anonymous = Client(HTTP_USER_AGENT=BROWSER_UA).get("/landing-c/")
    assert "private" not in anonymous.headers.get("Cache-Control", "")
