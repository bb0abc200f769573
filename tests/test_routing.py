"""The route table: site-aware matching and invalidation, in and across processes."""

import pytest
from django.core.cache import cache
from django.test import Client
from django.test.utils import override_settings
from wagtail.models import Page, Site

from sandbox_site.home.models import LandingPage
from wagtail_experiments import routing
from wagtail_experiments.models import Experiment, Variant

from .conftest import BROWSER_UA
from .helpers import publish_variant_pages, served_heading, served_key, visitor_in

pytestmark = pytest.mark.django_db


def visitor_client(visitor_id, **extra):
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **extra)
    client.cookies["wexp_vid"] = visitor_id
    return client


def test_same_path_on_another_site_is_not_bucketed(demo):
    other_home = Page.get_first_root_node().add_child(
        instance=Page(title="Other site", slug="other-home")
    )
    other_home.add_child(instance=LandingPage(title="Other landing", slug="landing"))
    Site.objects.create(hostname="other.test", port=80, root_page=other_home)
    visitor_id = visitor_in(demo, "b")

    response = visitor_client(visitor_id, HTTP_HOST="other.test").get("/landing/")
    assert response.status_code == 200
    assert "X-Experiment-Variant" not in response.headers
    assert served_key(visitor_client(visitor_id).get("/landing/")) == "b"


@override_settings(WAGTAIL_EXPERIMENTS={"ROUTE_TABLE_RECHECK_SECONDS": 0})
def test_a_version_published_by_another_process_rebuilds_the_table(demo):
    client = visitor_client(visitor_in(demo, "b"))
    assert served_key(client.get("/landing/")) == "b"
    # Another process pauses the experiment: its rows change without signals here...
    Experiment.objects.filter(pk=demo.pk).update(status=Experiment.Status.PAUSED)
    assert served_key(client.get("/landing/")) == "b"
    # ...and it publishes a new version through the shared cache.
    cache.set(routing.VERSION_CACHE_KEY, "written-by-another-process", None)
    assert served_key(client.get("/landing/")) is None


def test_recheck_interval_limits_shared_cache_reads(demo, monkeypatch):
    routing.get_route_table()
    reads = []
    monkeypatch.setattr(routing, "_shared_version", lambda: reads.append(1) or "v")
    for _ in range(50):
        routing.get_route_table()
    assert reads == []


def test_changes_in_this_process_apply_immediately(demo):
    client = visitor_client(visitor_in(demo, "c"))
    assert served_key(client.get("/landing/")) == "c"
    demo.pause()
    assert served_key(client.get("/landing/")) is None


def test_invalidation_is_published_again_after_commit(demo, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        before = cache.get(routing.VERSION_CACHE_KEY)
        demo.pause()
    assert callbacks
    assert cache.get(routing.VERSION_CACHE_KEY) != before


def test_a_variant_page_need_not_be_live_its_pinned_revision_is_served(demo):
    client = visitor_client(visitor_in(demo, "c"))
    publish_variant_pages(demo, "c")
    demo.variants.get(key="c").page.unpublish()
    response = client.get("/landing/")
    assert served_heading(response) == "c"
    assert response.headers["X-Experiment-Variant"] == "landing-hero=c"


def test_a_lost_pinned_revision_stops_the_experiment_being_served(demo, caplog):
    client = visitor_client(visitor_in(demo, "c"))
    Variant.objects.filter(experiment=demo, key="c").update(revision=None)
    routing.invalidate_route_table()
    response = client.get("/landing/")
    assert served_heading(response) == "control"
    assert "X-Experiment-Variant" not in response.headers
    assert "is not served" in caplog.text


def test_renamed_control_page_moves_the_experiment_with_it(demo):
    control = demo.control_page.specific
    control.slug = "landing-renamed"
    control.save_revision().publish()
    client = visitor_client(visitor_in(demo, "b"))
    assert served_key(client.get("/landing-renamed/")) == "b"
    assert client.get("/landing/").status_code == 404


def test_route_table_holds_the_control_url_and_variants_in_order(demo):
    table = routing.get_route_table()
    route = table.by_slug["landing-hero"]
    assert route.path == "/landing/"
    assert route.control_url == "http://localhost/landing/"
    assert [v.key for v in route.variants] == ["control", "b", "c"]
    assert route.weights == [34.0, 33.0, 33.0]
    assert route.coverage == 1.0
    assert route.seed == "landing-hero"
    assert set(table.by_variant_page) == {
        demo.variants.get(key="b").page_id,
        demo.variants.get(key="c").page_id,
    }


def test_control_pages_with_non_ascii_slugs_are_served(demo):
    control = demo.control_page.specific
    control.slug = "café"
    control.save_revision().publish()
    client = visitor_client(visitor_in(demo, "b"))
    response = client.get("/café/")
    assert response.status_code == 200
    assert served_key(response) == "b"


def test_variant_pages_of_a_scheduled_experiment_stay_indexable_until_it_starts(demo):
    from datetime import timedelta

    from django.utils import timezone

    Experiment.objects.filter(pk=demo.pk).update(
        status=Experiment.Status.SCHEDULED, starts_at=timezone.now() + timedelta(days=1)
    )
    demo.refresh_from_db()
    demo.save()  # publishes a new route table version
    publish_variant_pages(demo, "b")
    response = Client(HTTP_USER_AGENT=BROWSER_UA).get("/landing-b/")
    assert "X-Robots-Tag" not in response.headers
