"""The headless API: public config, assignments, server-to-server visitor ids, API v2 find,
results for staff, CORS."""

import json

import pytest
from django.test import Client
from growthbook import Experiment as GBExperiment
from growthbook import GrowthBook
from rest_framework.authtoken.models import Token
from wagtail.models import Page

from wagtail_experiments import compat
from wagtail_experiments.assignment import new_visitor_id
from wagtail_experiments.models import Event, Experiment, Exposure, Lead

from .conftest import BROWSER_UA
from .helpers import SERVER, expected_key, visitor_in

pytestmark = pytest.mark.django_db

API = "/_experiments/api"


def get_json(client, url, **extra):
    response = client.get(url, **extra)
    return response, (json.loads(response.content) if response.content else None)


def config_of(slug, client=None):
    _, body = get_json(client or Client(), f"{API}/experiments")
    return next(item for item in body["experiments"] if item["slug"] == slug)


# Config -------------------------------------------------------------------------------------


def test_config_publishes_what_edge_workers_need(demo):
    response, body = get_json(Client(), f"{API}/experiments")
    assert response.status_code == 200
    assert {item["slug"] for item in body["experiments"]} == {"landing-hero", "home-banner"}
    landing = config_of("landing-hero")
    pages = {variant.key: variant.page for variant in demo.variants.all()}
    assert landing == {
        "slug": "landing-hero",
        "hash_seed": "landing-hero",
        "hash_version": 2,
        "coverage": 1.0,
        "winner": None,
        "site": {"id": demo.control_page.get_site().pk, "root_url": "http://localhost"},
        "path": "/landing/",
        "url": "http://localhost/landing/",
        "variants": [
            # A draft variant page has no URL of its own to publish.
            {"key": key, "weight": weight, "page_id": pages[key].pk,
             "url": "http://localhost/landing/" if key == "control" else None, "payload": {}}
            for key, weight in (("control", 0.34), ("b", 0.33), ("c", 0.33))
        ],
        "targeting": {"utm_source": [], "utm_medium": [], "utm_campaign": [], "device": [],
                      "locale": []},
        "goals": [
            {"name": "lead", "kind": "server", "max_value": None},
            {"name": "cta", "kind": "event", "max_value": None},
            {"name": "signup", "kind": "event", "max_value": None},
            {"name": "video-played", "kind": "event", "max_value": 3600.0},
            {"name": "purchase", "kind": "revenue", "max_value": 5000.0},
        ],
    }
    banner = config_of("home-banner")
    assert banner["path"] is banner["url"] is banner["site"] is None
    assert [v["page_id"] for v in banner["variants"]] == [None, None]
    assert banner["variants"][1]["payload"] == {"banner": "New: every landing page can now "
                                                          "run its own experiment."}


def test_config_is_cacheable_with_an_etag(demo):
    client = Client()
    response = client.get(f"{API}/experiments")
    assert response["Cache-Control"] == "public, max-age=60"
    etag = response["ETag"]
    again = client.get(f"{API}/experiments", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag and not again.content
    demo.pause()
    changed = client.get(f"{API}/experiments", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert "landing-hero" not in {item["slug"] for item in json.loads(changed.content)[
        "experiments"]}


def test_growthbook_sdk_fed_the_config_buckets_like_the_server(demo):
    landing = config_of("landing-hero")
    experiment = GBExperiment(
        key=landing["slug"],
        seed=landing["hash_seed"],
        hashVersion=landing["hash_version"],
        coverage=landing["coverage"],
        variations=[variant["key"] for variant in landing["variants"]],
        weights=[variant["weight"] for variant in landing["variants"]],
    )
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    for _ in range(60):
        visitor_id = new_visitor_id()
        gb = GrowthBook(attributes={"id": visitor_id}).run(experiment)
        _, body = get_json(
            client, f"{API}/assignment?path=/landing/&expose=false&visitor_id={visitor_id}"
        )
        assert body["variant"] == gb.value == expected_key(demo, visitor_id)


# Assignment ---------------------------------------------------------------------------------


def test_assignment_for_a_cookie_caller_sets_the_cookie_and_counts_one_exposure(demo):
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    response, body = get_json(client, f"{API}/assignment?path=/landing/")
    assert response.status_code == 200
    visitor_id = body["visitor_id"]
    assert client.cookies["wexp_vid"].value == visitor_id
    assert client.cookies["wexp_vid"]["httponly"]
    key = expected_key(demo, visitor_id)
    page = demo.variants.get(key=key).page
    assert body["experiment"] == "landing-hero" and body["variant"] == key
    assert body["payload"] == {}
    # A draft variant's content is seen at the control URL, and fetched through find.
    # A browser is known by its cookie: the find URL does not name it.
    find = "http://testserver/api/v2/pages/find/?html_path=%2Flanding%2F&expose=false"
    assert body["page"] == (
        {"id": page.pk, "url": "http://localhost/landing/", "api_url": find}
        if key != "control" else
        {"id": page.pk, "url": "http://localhost/landing/",
         "api_url": f"http://testserver/api/v2/pages/{page.pk}/"}
    )
    assert "private" in response["Cache-Control"]
    _, body_again = get_json(client, f"{API}/assignment?path=/landing/")
    assert (body_again["visitor_id"], body_again["variant"]) == (visitor_id, key)
    assert Exposure.objects.filter(visitor_id=visitor_id).count() == 1
    # The page at the URL, server-rendered, agrees.
    assert client.get("/landing/")["X-Experiment-Variant"] == f"landing-hero={key}"


def test_assignment_for_a_named_visitor_and_expose_false(demo):
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    visitor_id = visitor_in(demo, "c")
    url = f"{API}/assignment?path=/landing/&visitor_id={visitor_id}"
    _, body = get_json(client, url + "&expose=false")
    assert (body["visitor_id"], body["variant"]) == (visitor_id, "c")
    assert not Exposure.objects.exists()
    _, body = get_json(Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER), url)
    assert body["variant"] == "c"
    assert Exposure.objects.get().visitor_id == visitor_id
    _, body = get_json(Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER), url)
    assert Exposure.objects.count() == 1


def test_a_named_visitor_keeps_the_variant_of_their_stored_exposure(demo):
    visitor_id = visitor_in(demo, "b")
    Exposure.objects.create(
        experiment=demo, variant=demo.variants.get(key="c"), visitor_id=visitor_id
    )
    url = f"{API}/assignment?path=/landing/&visitor_id={visitor_id}"
    _, body = get_json(Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER), url)
    assert body["variant"] == "c"


def test_landing_query_in_the_path_attributes_utm(demo):
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    _, body = get_json(client, f"{API}/assignment?path=/landing/%3Futm_source%3Dnewsletter")
    assert body["experiment"] == "landing-hero"
    assert Exposure.objects.get(visitor_id=body["visitor_id"]).utm_source == "newsletter"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("path=/", 200),
        ("path=/no-such-page/", 404),
        ("", 400),
        ("path=/landing/&experiment=home-banner", 400),
        ("path=landing", 400),
        ("path=/landing/&visitor_id=short", 400),
        ("path=/landing/&visitor_id=" + "%00" * 21, 400),
        ("path=/landing/&expose=maybe", 400),
        ("experiment=no-such-experiment", 404),
        ("experiment=landing-hero", 404),
    ],
)
def test_assignment_errors_are_clear_and_store_nothing(demo, query, status):
    server = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    response, body = get_json(server, f"{API}/assignment?{query}")
    assert response.status_code == status, body
    if status != 200:
        assert body["detail"]
    else:
        home = Page.objects.get(depth=2)
        assert body["experiment"] is None and body["page"]["id"] == home.pk
    assert not Exposure.objects.exists()


def test_assignment_of_a_code_level_experiment_returns_the_payload(demo):
    flag = Experiment.objects.get(slug="home-banner")
    visitor_id = visitor_in(flag, "banner")
    _, body = get_json(
        Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER),
        f"{API}/assignment?experiment=home-banner&visitor_id={visitor_id}",
    )
    assert body["variant"] == "banner" and body["page"] is None
    assert body["payload"]["banner"].startswith("New:")
    assert Exposure.objects.get(visitor_id=visitor_id).experiment == flag


def test_bots_and_editors_get_the_control_uncounted(demo, admin_user):
    _, body = get_json(Client(HTTP_USER_AGENT="Googlebot/2.1"), f"{API}/assignment?path=/landing/")
    assert (body["visitor_id"], body["experiment"]) == (None, None)
    assert body["page"]["id"] == demo.control_page_id
    editor = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    editor.force_login(admin_user)
    _, body = get_json(editor, f"{API}/assignment?path=/landing/")
    assert body["experiment"] is None
    assert not Exposure.objects.exists()


# Events and leads for a named visitor --------------------------------------------------------


def test_events_and_leads_accept_a_named_visitor(demo):
    visitor_id = visitor_in(demo, "b")
    server = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    get_json(server, f"{API}/assignment?path=/landing/&visitor_id={visitor_id}")
    server.cookies.clear()
    response = server.post(
        f"{API}/events?visitor_id={visitor_id}",
        {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "e1"},
        content_type="application/json",
    )
    assert response.status_code == 202 and json.loads(response.content)["accepted"] == 1
    assert Event.objects.get().variant.key == "b"
    events = Event.objects.count()
    response = server.post(
        f"{API}/leads?visitor_id={visitor_id}",
        {"form": "demo-lead", "data": {"name": "Ada", "email": "ada@example.com"}},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert [variant.key for variant in Lead.objects.get().variants.all()] == ["b"]
    bad = server.post(
        f"{API}/events?visitor_id=not-an-id",
        {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "e2"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "visitor_id" in json.loads(bad.content)["detail"]
    assert Event.objects.count() == events + 1  # the lead's conversion, not the bad click


# Wagtail API v2 -----------------------------------------------------------------------------


def test_api_v2_find_returns_the_visitors_variant(demo):
    """The variant page is a draft: find answers with its pinned content itself, in the
    detail format, while its id stays unknown to the rest of the API."""
    visitor_id = visitor_in(demo, "b")
    variant_page = demo.variants.get(key="b").page
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    response = client.get(f"/api/v2/pages/find/?html_path=/landing/&visitor_id={visitor_id}")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["id"] == variant_page.pk and body["title"] == "Landing"
    assert body["meta"]["type"] == "home.LandingPage"
    # Presented where it is seen: nothing points at the draft's own (404) URLs.
    assert body["meta"]["html_url"] == "http://localhost/landing/"
    assert body["meta"]["slug"] == "landing"
    assert body["meta"]["detail_url"].startswith("http://testserver/api/v2/pages/find/")
    assert response["X-Experiment-Variant"] == "landing-hero=b"
    assert "private" in response["Cache-Control"]
    assert Exposure.objects.get(visitor_id=visitor_id).variant.key == "b"
    # A server names the visitor each time: its responses set no visitor cookie.
    assert "wexp_vid" not in response.cookies
    # A browser is known by its cookie.
    browser = Client(HTTP_USER_AGENT=BROWSER_UA)
    browser.cookies["wexp_vid"] = visitor_id
    again = json.loads(browser.get("/api/v2/pages/find/?html_path=/landing/").content)
    assert again["id"] == variant_page.pk
    # Outside its experiment the draft is not in the API: no detail, no listing entry.
    assert client.get(f"/api/v2/pages/{variant_page.pk}/").status_code == 404
    listed = json.loads(client.get("/api/v2/pages/?limit=20").content)["items"]
    assert [item["id"] for item in listed if item["title"] == "Landing"] == [
        demo.control_page_id
    ]


def test_api_v2_find_serves_the_pinned_revision_not_later_edits(demo):
    visitor_id = visitor_in(demo, "b")
    page = demo.variants.get(key="b").page.specific
    page.body[0].value["heading"] = "Edited after the start"
    page.save_revision()
    response = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER).get(
        f"/api/v2/pages/find/?html_path=/landing/&visitor_id={visitor_id}&fields=body"
    )
    body = json.loads(response.content)
    assert body["body"][0]["value"]["heading"] == "Know what converts in a week"


def test_api_v2_find_without_a_visitor_is_plain_wagtail(demo):
    server = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    response = server.get("/api/v2/pages/find/?html_path=/landing/")
    assert response["Location"].startswith(
        f"http://localhost/api/v2/pages/{demo.control_page_id}/"
    )
    assert not Exposure.objects.exists()
    assert server.get("/api/v2/pages/find/?html_path=/landing/&visitor_id=bad").status_code == 400


# Results ------------------------------------------------------------------------------------


def test_results_need_staff_with_the_view_permission(demo, admin_user, django_user_model):
    url = f"{API}/experiments/landing-hero/results"
    assert Client().get(url).status_code == 401
    visitor = django_user_model.objects.create_user("visitor", password="x")
    client = Client()
    client.force_login(visitor)
    assert client.get(url).status_code == 403
    client.force_login(admin_user)
    response, body = get_json(client, url)
    assert response.status_code == 200
    assert body["experiment"] == "landing-hero" and body["goal"] == "lead"
    assert [variant["key"] for variant in body["variants"]] == ["control", "b", "c"]
    assert get_json(client, f"{API}/experiments/nope/results")[0].status_code == 404
    assert get_json(client, f"{API}/experiments/landing-hero/results?since=x")[0].status_code == 400


@pytest.mark.skipif(
    not compat.HAS_WAGTAIL_API_TOKENS, reason="Wagtail's API tokens arrived in Wagtail 8.0"
)
def test_results_with_a_wagtail_api_token(demo, admin_user, django_user_model):
    from wagtail.models import APIToken

    url = f"{API}/experiments/landing-hero/results?goal=cta"
    _, token = APIToken.create_token(user=admin_user, name="dashboards")
    response, body = get_json(Client(), url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200 and body["goal"] == "cta"
    nobody = django_user_model.objects.create_user("reader", password="x")
    _, weak = APIToken.create_token(user=nobody, name="no permission")
    assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {weak}").status_code == 403
    assert Client().get(url, HTTP_AUTHORIZATION="Bearer wagtail_forged").status_code == 401


@pytest.mark.skipif(
    compat.HAS_WAGTAIL_API_TOKENS, reason="Wagtail 8 sites use Wagtail's own API tokens"
)
def test_results_with_a_rest_framework_token_on_wagtail_7_4(demo, admin_user, django_user_model):
    url = f"{API}/experiments/landing-hero/results?goal=cta"
    token = Token.objects.create(user=admin_user)
    response, body = get_json(Client(), url, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200 and body["goal"] == "cta"
    reader = django_user_model.objects.create_user("reader", password="x")
    weak = Token.objects.create(user=reader)
    assert Client().get(url, HTTP_AUTHORIZATION=f"Token {weak.key}").status_code == 403
    assert Client().get(url, HTTP_AUTHORIZATION="Token forged").status_code == 401


@pytest.mark.skipif(
    not compat.HAS_WAGTAIL_API_TOKENS, reason="Wagtail 7.4 has no API tokens of its own"
)
def test_rest_framework_tokens_do_not_open_the_results_on_wagtail_8(demo, admin_user):
    """Wagtail 8's tokens are digests and revocable; DRF's plain keys are not accepted."""
    token = Token.objects.create(user=admin_user)
    url = f"{API}/experiments/landing-hero/results"
    assert Client().get(url, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 401


def test_a_wrong_token_is_not_rescued_by_a_session(demo, admin_user):
    client = Client()
    client.force_login(admin_user)
    url = f"{API}/experiments/landing-hero/results"
    assert client.get(url).status_code == 200
    forged = "Bearer wagtail_forged" if compat.HAS_WAGTAIL_API_TOKENS else "token forged"
    assert client.get(url, HTTP_AUTHORIZATION=forged).status_code == 401


@pytest.mark.parametrize("header", ["Token {key}", "token {key}", "TOKEN   {key}"])
def test_rest_framework_token_auth_reads_the_keyword_as_drf_does(demo, admin_user, header):
    from django.test import RequestFactory

    token = Token.objects.create(user=admin_user)
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=header.format(key=token.key))
    assert compat.DRFTokenAuth()(request) == token and request.user == admin_user


def test_rest_framework_token_auth_turns_bad_tokens_anonymous(demo, admin_user, monkeypatch):
    from django.test import RequestFactory

    token = Token.objects.create(user=admin_user)

    def authenticate(header):
        request = RequestFactory().get("/", HTTP_AUTHORIZATION=header)
        request.user = admin_user  # as if a session had logged them in
        return compat.DRFTokenAuth()(request), request.user

    def assert_anonymous(header):
        result, user = authenticate(header)
        assert result is None and not user.is_authenticated, header

    assert authenticate(f"Token {token.key}")[0] == token
    assert_anonymous("Token forged")
    assert_anonymous("Token ")
    admin_user.is_active = False
    admin_user.save()
    assert_anonymous(f"Token {token.key}")
    admin_user.is_active = True
    admin_user.save()
    # A site without rest_framework.authtoken: the token cannot be checked, so it counts
    # as no one, never as the session's user.
    monkeypatch.setattr(compat.apps, "is_installed", lambda name: False)
    assert_anonymous(f"Token {token.key}")


# CORS ---------------------------------------------------------------------------------------


def test_cors_allows_listed_origins_with_credentials_only(demo):
    allowed = Client().options(
        f"{API}/events",
        HTTP_ORIGIN="http://localhost:3000",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    assert allowed["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert allowed["Access-Control-Allow-Credentials"] == "true"
    assert "content-type" in allowed["Access-Control-Allow-Headers"]
    response = Client().get(f"{API}/experiments", HTTP_ORIGIN="http://localhost:3000")
    assert response["Access-Control-Allow-Origin"] == "http://localhost:3000"
    denied = Client().get(f"{API}/experiments", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in denied
    assert "Access-Control-Allow-Credentials" not in denied
    page = Client().get("/landing/", HTTP_ORIGIN="http://localhost:3000")
    assert "Access-Control-Allow-Origin" not in page


# Review findings: each a behaviour the API shares with server-rendered pages --------------


def test_assignment_answers_are_never_shared_by_caches(demo):
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    client.get(f"{API}/assignment?path=/landing/")
    again = client.get(f"{API}/assignment?path=/landing/")  # sets no cookie this time
    assert not again.cookies
    assert "private" in again["Cache-Control"] and "Cookie" in again["Vary"]


def test_prefetches_get_the_control_and_no_cookie(demo):
    client = Client(HTTP_USER_AGENT=BROWSER_UA, HTTP_SEC_PURPOSE="prefetch")
    response, body = get_json(client, f"{API}/assignment?path=/landing/")
    assert body["visitor_id"] is None and body["experiment"] is None
    assert not response.cookies
    assert not Exposure.objects.exists()


def test_the_experiment_is_found_like_the_middleware_finds_it(demo, settings):
    from wagtail.models import Site

    client = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    assert get_json(client, f"{API}/assignment?path=/landing")[1]["experiment"] == "landing-hero"
    assert get_json(client, f"{API}/assignment?path=/landing/more/")[0].status_code == 404
    # Another site serving the same tree: the experiment runs on the control page's site only.
    settings.ALLOWED_HOSTS = ["*"]
    Site.objects.create(hostname="mirror.example", root_page=demo.control_page.get_parent())
    mirror = Client(HTTP_USER_AGENT=BROWSER_UA, HTTP_HOST="mirror.example")
    _, body = get_json(mirror, f"{API}/assignment?path=/landing/")
    assert body["page"]["id"] == demo.control_page_id and body["experiment"] is None
    assert mirror.get("/landing/").get("X-Experiment-Variant") is None


def test_api_v2_find_serves_a_promoted_winner_without_a_visitor(demo):
    winner = demo.variants.get(key="c")
    demo.complete(winner=winner)
    demo.promote_winner("serve")
    response = Client().get("/api/v2/pages/find/?html_path=/landing/")
    assert json.loads(response.content)["id"] == winner.page_id
    assert response["X-Experiment-Variant"] == "landing-hero=c"
    assert get_json(Client(), f"{API}/assignment?path=/landing/")[1]["variant"] == "c"
    landing = config_of("landing-hero")
    assert landing["winner"] == "c" and [v["key"] for v in landing["variants"]] == ["c"]
    assert not Exposure.objects.exists()
    bad = Client().get("/api/v2/pages/find/?html_path=/landing/&expose=maybe")
    assert bad.status_code == 400


def test_a_page_experiment_without_its_control_page_is_not_served(demo):
    from wagtail_experiments.routing import get_route_table

    demo.control_page.delete()  # SET_NULL on the experiment
    demo.refresh_from_db()
    assert demo.control_page_id is None and not demo.is_code_level
    assert "landing-hero" not in get_route_table().by_slug
    response, _ = get_json(
        Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER), f"{API}/assignment?experiment=landing-hero"
    )
    assert response.status_code == 404


def test_a_server_follows_the_assignments_api_url_to_the_pinned_content(demo):
    """A front-end server naming the visitor: the api_url names them too (the server sends
    its key), and the landing URL's query (UTM parameters) does not make find miss the
    page."""
    server = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    for _ in range(40):
        visitor_id = new_visitor_id()
        _, body = get_json(server, f"{API}/assignment?path=/landing/%3Futm_source%3Dgoogle"
                                   f"&visitor_id={visitor_id}")
        if body["variant"] != "control":
            break
    assert "visitor_id=" in body["page"]["api_url"]
    assert body["variant"] in ("b", "c")
    response = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER).get(
        body["page"]["api_url"].removeprefix("http://testserver")
    )
    assert response.status_code == 200
    assert json.loads(response.content)["id"] == body["page"]["id"]
    assert response["X-Experiment-Variant"] == f"landing-hero={body['variant']}"
    # Fetching the content counted nothing more.
    assert Exposure.objects.filter(visitor_id=body["visitor_id"]).count() == 1
