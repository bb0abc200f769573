"""Shared-cache mode at the origin: which responses a cache may keep per variant, and which
stay private (the real-cache behaviour is in test_behind_a_cache.py)."""

import re

import pytest
from django.test import Client
from django.test.utils import override_settings

from wagtail_experiments.shared_cache import CACHE_KEY_HEADER, parse_key

from .conftest import BROWSER_UA
from .helpers import visitor_in

SHARED = override_settings(WAGTAIL_EXPERIMENTS={"SHARED_CACHE": True})
KEY_HEADER = "HTTP_" + CACHE_KEY_HEADER.upper().replace("-", "_")


def returning(demo, key="b"):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(demo, key)
    first = client.get("/landing/")
    return client, first


def keyed_get(client, path="/landing/", key=None):
    key = client.cookies["wexp_v"].value if key is None else key
    return client.get(path, **{KEY_HEADER: key})


@pytest.mark.django_db
@SHARED
def test_a_first_view_sets_the_key_and_stays_private(demo):
    _, first = returning(demo)
    assert first["Cache-Control"] == "private" and "Cookie" in first["Vary"]
    assert parse_key(first.cookies["wexp_v"].value)["landing-hero"] == "b"
    assert first.cookies["wexp_v"]["httponly"]


@pytest.mark.django_db
@SHARED
def test_a_returning_visitor_with_a_keyed_request_gets_one_copy_per_variant(demo):
    client, _ = returning(demo)
    response = keyed_get(client)
    assert "private" not in response.get("Cache-Control", "")
    assert response["Vary"] == CACHE_KEY_HEADER
    assert not response.cookies


@pytest.mark.django_db
@SHARED
def test_without_the_header_the_cache_did_not_key_it_so_it_stays_private(demo):
    client, _ = returning(demo)
    response = client.get("/landing/")
    assert response["Cache-Control"] == "private" and "Cookie" in response["Vary"]


@pytest.mark.django_db
@SHARED
def test_a_tampered_key_is_never_cached_and_is_put_right(demo):
    client, _ = returning(demo, "b")
    client.cookies["wexp_v"] = "landing-hero:c"
    response = keyed_get(client, key="landing-hero:c")
    # The signed assignment decides what is served; the key cookie is rewritten.
    assert response["X-Experiment-Variant"] == "landing-hero=b"
    assert response["Cache-Control"] == "private"
    assert parse_key(response.cookies["wexp_v"].value)["landing-hero"] == "b"


@pytest.mark.django_db
@SHARED
def test_bots_get_a_private_control(demo):
    client, _ = returning(demo)
    key = client.cookies["wexp_v"].value
    response = Client(HTTP_USER_AGENT="curl/8.0").get("/landing/", **{KEY_HEADER: key})
    assert "X-Experiment-Variant" not in response
    assert response["Cache-Control"] == "private"


@pytest.mark.django_db
@SHARED
def test_pages_without_an_experiment_get_a_static_tracker_and_no_cookie(demo):
    client, _ = returning(demo)
    response = keyed_get(client, "/landing/?lead-sent=x")  # still the experiment page
    assert response["Vary"] == CACHE_KEY_HEADER
    demo.pause()
    response = keyed_get(client)
    assert not response.cookies and "Vary" not in response
    assert "Cache-Control" not in response
    html = response.content.decode()
    config = re.search(r'id="wagtail-experiments-config"[^>]*>([^<]*)<', html)
    assert '"experiments": null' in config.group(1)
    # The tracker asks for the visitor's experiments instead: private, no query.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        mine = client.get("/_experiments/api/visitor/experiments")
    assert mine.json() == {"experiments": []}  # landing-hero is paused
    assert "no-store" in mine["Cache-Control"]
    assert len(queries) == 0


@pytest.mark.django_db
def test_without_shared_cache_mode_nothing_changes(demo):
    client, first = returning(demo)
    assert "wexp_v" not in first.cookies
    response = client.get("/landing/", **{KEY_HEADER: "landing-hero:b"})
    assert response["Cache-Control"] == "private" and "Cookie" in response["Vary"]


@pytest.mark.django_db(transaction=True)
@override_settings(WAGTAILFRONTENDCACHE={"varnish": {
    "BACKEND": "wagtail.contrib.frontend_cache.backends.HTTPBackend",
    "LOCATION": "http://127.0.0.1:9",
}})
def test_lifecycle_steps_purge_the_control_url(demo, monkeypatch):
    from wagtail_experiments import purging

    purged = []
    monkeypatch.setattr(purging, "purge_page", purged.append)
    demo.pause()
    demo.resume()
    demo.update_variant_content()
    demo.complete(winner=demo.variants.get(key="b"))
    assert purged == [demo.control_page_id] * 4


@pytest.mark.django_db(transaction=True)
def test_without_frontend_cache_backends_nothing_is_purged_or_scheduled(demo, monkeypatch):
    from wagtail_experiments import purging

    purged, timers = [], []
    monkeypatch.setattr(purging, "purge_page", purged.append)
    monkeypatch.setattr(purging.threading, "Timer", lambda *a, **k: timers.append(a))
    demo.pause()
    assert purged == [] and timers == []
