"""Code-level experiments (feature flags): get_variant, the template tag, payloads."""

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from wagtail_experiments.flags import get_variant, get_variant_payload
from wagtail_experiments.models import Experiment, Exposure, Variant

from .conftest import BROWSER_UA
from .helpers import signed_assignment_cookie, visitor_in

pytestmark = pytest.mark.django_db

BANNER = "New: every landing page can now run its own experiment."


@pytest.fixture
def flag(demo):
    return Experiment.objects.get(slug="home-banner")


def visitor_request(visitor_id=None, cookies=None, user_agent=BROWSER_UA, path="/"):
    request = RequestFactory().get(path, HTTP_USER_AGENT=user_agent)
    if visitor_id:
        request.COOKIES["wexp_vid"] = visitor_id
    request.COOKIES.update(cookies or {})
    return request


def test_get_variant_buckets_by_hash_and_counts_one_exposure(flag):
    visitor_id = visitor_in(flag, "banner")
    request = visitor_request(visitor_id)
    assert get_variant(request, "home-banner") == "banner"
    assert get_variant_payload(request, "home-banner") == {"banner": BANNER}
    # Asked again in the same request (template and view): decided and counted once.
    assert get_variant(request, "home-banner") == "banner"
    exposure = Exposure.objects.get()
    assert (exposure.visitor_id, exposure.variant.key) == (visitor_id, "banner")


def test_returning_visitor_costs_no_query(flag):
    visitor_id = visitor_in(flag, "control")
    cookie = signed_assignment_cookie(visitor_id, {flag.pk: "control"})
    request = visitor_request(visitor_id, {"wexp_asg": cookie})
    get_variant(visitor_request(), "landing-hero")  # warm the route table
    with CaptureQueriesContext(connection) as queries:
        assert get_variant(request, "home-banner") == "control"
        assert get_variant_payload(request, "home-banner") == {}
    assert len(queries) == 0
    assert not Exposure.objects.exists()


def test_home_page_template_shows_the_banner_to_its_variant_only(flag):
    for key, shown in (("banner", True), ("control", False)):
        client = Client(HTTP_USER_AGENT=BROWSER_UA)
        client.cookies["wexp_vid"] = visitor_in(flag, key)
        response = client.get("/")
        assert (BANNER in response.content.decode()) is shown
        # The page now depends on the visitor: private, and the assignment made sticky.
        assert "private" in response["Cache-Control"]
        assert "Cookie" in response["Vary"]
        assert "wexp_asg" in response.cookies
    assert Exposure.objects.filter(experiment=flag).count() == 2


def test_a_new_visitor_gets_cookies_with_the_flag(flag):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.get("/")
    visitor_id = client.cookies["wexp_vid"].value
    exposure = Exposure.objects.get(experiment=flag)
    assert exposure.visitor_id == visitor_id
    client.get("/")
    assert Exposure.objects.filter(experiment=flag).count() == 1


def test_template_tag_exposes_key_and_payload(flag):
    visitor_id = visitor_in(flag, "banner")
    template = Template(
        '{% load wagtail_experiments %}{% experiment_variant "home-banner" as v %}'
        '[{{ v }}|{% if v == "banner" %}yes{% endif %}|{{ v.payload.banner }}|{{ v.key }}]'
        '{% experiment_variant "no-such-flag" as none %}[{{ none }}|{% if none %}in{% endif %}]'
    )
    html = template.render(Context({"request": visitor_request(visitor_id)}))
    assert html == f"[banner|yes|{BANNER}|banner][|]"


def test_no_variant_for_bots_unknown_slugs_and_other_pages_experiments(flag):
    assert get_variant(visitor_request(user_agent="Googlebot/2.1"), "home-banner") is None
    assert get_variant(visitor_request(), "no-such-flag") is None
    # A page experiment answers only on its own URL (where the middleware decided).
    assert get_variant(visitor_request(), "landing-hero") is None
    assert not Exposure.objects.exists()


def test_page_experiment_answers_on_its_url(demo):
    visitor_id = visitor_in(demo, "c")
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_id
    response = client.get("/landing/")
    assert get_variant(response.wsgi_request, "landing-hero") == "c"


def test_paused_and_promoted_flags(flag):
    visitor_id = visitor_in(flag, "control")
    flag.pause()
    assert get_variant(visitor_request(visitor_id), "home-banner") is None
    flag.resume()
    flag.complete(winner=flag.variants.get(key="banner"))
    flag.promote_winner("serve")
    # Everyone, bots included, gets the winner; nobody is counted any more.
    assert get_variant(visitor_request(visitor_id), "home-banner") == "banner"
    assert get_variant(visitor_request(user_agent="Googlebot/2.1"), "home-banner") == "banner"
    assert not Exposure.objects.exists()


def test_code_level_experiments_cannot_publish_a_winner(flag):
    from django.core.exceptions import ValidationError

    flag.complete(winner=flag.variants.get(key="banner"))
    with pytest.raises(ValidationError, match="no page to publish"):
        flag.promote_winner("publish")


def test_variants_must_all_have_pages_or_none(demo):
    from django.core.exceptions import ValidationError

    landing_b = demo.variants.get(key="b").page
    code = Experiment(name="Mixed", slug="mixed")
    code.variants = [
        Variant(key="control", weight=50, is_control=True),
        Variant(key="b", weight=50, page=landing_b),
    ]
    with pytest.raises(ValidationError, match="leave every variant's page empty"):
        code.full_clean()
    page_experiment = Experiment(name="Pages", slug="pages", control_page=demo.control_page)
    page_experiment.variants = [
        Variant(key="control", weight=50, is_control=True, page=demo.control_page),
        Variant(key="b", weight=50),
    ]
    with pytest.raises(ValidationError, match="Variant “b” has no page"):
        page_experiment.full_clean()
    code.variants = [
        Variant(key="control", weight=50, is_control=True),
        Variant(key="b", weight=50, payload=["not", "an", "object"]),
    ]
    with pytest.raises(ValidationError, match="must be a JSON object"):
        code.full_clean()


def test_promoting_a_flags_winner_in_the_admin_serves_it(flag, admin_client):
    flag.complete(winner=flag.variants.get(key="banner"))
    url = f"/admin/experiments/promote/{flag.pk}/"
    html = admin_client.get(url).content.decode()
    assert 'value="serve"' in html and 'value="publish"' not in html
    assert admin_client.post(url, {"mode": "publish"}).status_code == 200  # not offered
    response = admin_client.post(url, {"mode": "serve"})
    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.serve_winner
    assert get_variant(visitor_request(), "home-banner") == "banner"


def test_head_requests_do_not_count(flag):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(flag, "banner")
    client.head("/")
    assert not Exposure.objects.exists()


def test_tracker_names_a_flag_assigned_on_the_first_view(flag):
    response = Client(HTTP_USER_AGENT=BROWSER_UA).get("/")
    assert Exposure.objects.filter(experiment=flag).exists()
    assert '"home-banner"' in response.content.decode()


def test_returning_visitor_outside_targeting_costs_no_query(flag):
    flag.target_devices = ["mobile"]
    flag.save()
    client = Client(HTTP_USER_AGENT=BROWSER_UA)  # a desktop browser
    client.cookies["wexp_vid"] = visitor_in(flag, "banner")
    client.get("/")
    with CaptureQueriesContext(connection) as returning:
        client.get("/")
    assert not [q for q in returning.captured_queries if "wagtail_experiments" in q["sql"]]
    assert not Exposure.objects.exists()
