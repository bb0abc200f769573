"""An experiment whose pages are deleted, unpublished or moved is paused with the reason,
shown everywhere, and serves the control: no screen says *Running* for an experiment that
serves nothing."""

import pytest
from django.test import Client
from wagtail.models import ModelLogEntry

from sandbox_site.home.models import LandingPage
from wagtail_experiments.models import Experiment

from .conftest import BROWSER_UA
from .helpers import publish_variant_pages, served_key, visitor_in

pytestmark = pytest.mark.django_db

ADMIN = "/admin/experiments/"


def refreshed(experiment):
    return Experiment.objects.get(pk=experiment.pk)


def test_deleting_a_variant_page_pauses_with_the_reason_shown_everywhere(demo, admin_client):
    visitor_id = visitor_in(demo, "c")
    page_c = demo.variants.get(key="c").page
    page_c.delete()

    experiment = refreshed(demo)
    assert experiment.status == "paused"
    assert experiment.pause_reason.startswith(f"Variant “c”'s page “{page_c.title}” was deleted on")
    # Visitors get the control, and nothing says the experiment is running.
    visitor = Client(HTTP_USER_AGENT=BROWSER_UA)
    visitor.cookies["wexp_vid"] = visitor_id
    assert served_key(visitor.get("/landing/")) is None
    listing = admin_client.get(ADMIN).content.decode()
    assert "Paused: Variant “c”" in listing.replace("&#x27;", "'")
    dashboard = admin_client.get("/admin/").content.decode().replace("&#x27;", "'")
    assert "Paused by a page change" in dashboard and "Variant “c”'s page" in dashboard
    results = admin_client.get(f"{ADMIN}results/{demo.pk}/").content.decode()
    assert "Variant “c”" in results and "Resume once every variant has its page" in results
    history = admin_client.get(f"{ADMIN}history/{demo.pk}/").content.decode()
    assert "Paused: Variant “c”" in history.replace("&#x27;", "'")
    assert ModelLogEntry.objects.filter(action="wagtail_experiments.pause").count() == 1


def test_resuming_names_the_variant_that_needs_a_page_and_clears_the_reason(demo, admin_client):
    page_b = demo.variants.get(key="b").page
    page_b.delete()
    html = admin_client.post(f"{ADMIN}resume/{demo.pk}/", follow=True).content.decode()
    assert "Variant “b” has no page: choose one." in html
    assert refreshed(demo).status == "paused"

    home = demo.control_page.get_parent()
    replacement = home.add_child(instance=LandingPage(title="New B", slug="new-b"))
    replacement.save_revision().publish()
    variant_b = demo.variants.get(key="b")
    variant_b.page = replacement
    variant_b.save()
    admin_client.post(f"{ADMIN}resume/{demo.pk}/")
    experiment = refreshed(demo)
    assert (experiment.status, experiment.pause_reason) == ("running", "")


def test_deleting_the_control_page_pauses(demo):
    demo.control_page.delete()
    experiment = refreshed(demo)
    assert experiment.status == "paused"
    assert "The control page “" in experiment.pause_reason
    assert "was deleted on" in experiment.pause_reason


def test_deleting_a_parent_of_a_variant_page_pauses(demo):
    home = demo.control_page.get_parent()
    section = home.add_child(instance=LandingPage(title="Section", slug="section"))
    section.save_revision().publish()
    page_b = demo.variants.get(key="b").page
    page_b.move(section, pos="last-child")
    assert refreshed(demo).status == "running"  # a variant page's own URL is not under test
    section.delete()
    experiment = refreshed(demo)
    assert experiment.status == "paused" and "Variant “b”" in experiment.pause_reason


def test_unpublishing_the_control_page_pauses(demo, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        demo.control_page.specific.unpublish()
    experiment = refreshed(demo)
    assert experiment.status == "paused"
    assert experiment.pause_reason.startswith("The control page “Landing” was unpublished on")


def test_unpublishing_a_live_variant_page_changes_nothing(
    demo, django_capture_on_commit_callbacks
):
    """Its pinned revision is served, whether the page is live or not."""
    publish_variant_pages(demo, "b")
    with django_capture_on_commit_callbacks(execute=True):
        demo.variants.get(key="b").page.specific.unpublish()
    experiment = refreshed(demo)
    assert experiment.status == "running" and experiment.pause_reason == ""


def test_a_deleted_page_gives_one_reason_and_one_history_entry(
    demo, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        demo.variants.get(key="c").page.delete()
    experiment = refreshed(demo)
    assert "unpublished" not in experiment.pause_reason
    assert ModelLogEntry.objects.filter(action="wagtail_experiments.pause").count() == 1


def test_a_new_slug_of_the_control_pauses_but_not_of_the_site_root(
    demo, django_capture_on_commit_callbacks
):
    site_root = demo.control_page.get_parent().specific
    with django_capture_on_commit_callbacks(execute=True):
        site_root.slug = "new-home-slug"
        site_root.save_revision().publish()
    assert refreshed(demo).status == "running"  # the site's URLs did not change
    control = demo.control_page.specific
    with django_capture_on_commit_callbacks(execute=True):
        control.slug = "new-landing"
        control.save_revision().publish()
    experiment = refreshed(demo)
    assert experiment.status == "paused" and "moved to a new URL" in experiment.pause_reason


def test_deleting_every_page_does_not_turn_it_into_a_feature_flag(demo, admin_client):
    for variant in demo.variants.all():
        variant.page.delete()
    experiment = refreshed(demo)
    assert experiment.status == "paused" and not experiment.is_code_level
    html = admin_client.post(f"{ADMIN}resume/{demo.pk}/", follow=True).content.decode()
    assert "The control page was deleted" in html
    assert refreshed(demo).status == "paused"


def test_moving_the_control_page_to_a_new_url_pauses(demo):
    home = demo.control_page.get_parent()
    section = home.add_child(instance=LandingPage(title="Section", slug="section"))
    section.save_revision().publish()
    demo.control_page.specific.move(section, pos="last-child", user=None)
    experiment = refreshed(demo)
    assert experiment.status == "paused"
    assert "moved to a new URL" in experiment.pause_reason


def test_a_scheduled_experiment_losing_a_page_is_paused_not_started(demo):
    from datetime import timedelta

    from django.utils import timezone

    demo.status = Experiment.Status.SCHEDULED
    demo.starts_at = timezone.now() + timedelta(days=1)
    demo.save()
    demo.variants.get(key="c").page.delete()
    assert refreshed(demo).status == "paused"


def test_completing_a_paused_experiment_shows_its_outcome_not_the_pause(demo, admin_client):
    demo.variants.get(key="c").page.delete()
    paused = refreshed(demo)
    paused.complete(winner=paused.variants.get(key="b"))
    experiment = refreshed(demo)
    assert experiment.pause_reason == ""
    assert experiment.status_summary() == "Completed: winner b"


def test_finished_experiments_are_left_alone(demo):
    demo.complete()
    demo.variants.get(key="c").page.delete()
    experiment = refreshed(demo)
    assert (experiment.status, experiment.pause_reason) == ("completed", "")


def test_the_delete_and_move_confirmations_name_the_experiment(demo, admin_client):
    page_c = demo.variants.get(key="c").page
    html = admin_client.get(f"/admin/pages/{page_c.pk}/delete/").content.decode()
    assert "Part of the experiment “Landing page hero”" in html
    home = demo.control_page.get_parent()
    move = admin_client.get(
        f"/admin/pages/{demo.control_page_id}/move/{home.get_parent().pk}/confirm/"
    )
    assert "Part of the experiment “Landing page hero”" in move.content.decode()
    other = home.add_child(instance=LandingPage(title="Other", slug="other"))
    html = admin_client.get(f"/admin/pages/{other.pk}/delete/").content.decode()
    assert "Part of the experiment" not in html
