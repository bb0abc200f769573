"""Variants are served from the revision pinned when the experiment started: editing a
variant page changes nothing until an editor updates the variant content, and draft variant
pages exist only inside their experiment (no URL, sitemap, search or API listing)."""

import json
from html import unescape

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from wagtail.models import ModelLogEntry, Page, Revision, Workflow

from sandbox_site.home.models import LandingPage
from wagtail_experiments.models import Experiment, Variant

from .conftest import BROWSER_UA
from .helpers import served_heading, served_key, visitor_in
from .test_lifecycle_permissions import act, user_with

pytestmark = pytest.mark.django_db

EDITED = "Edited after the start"


def client_of(experiment, key):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(experiment, key)
    return client


def edit_heading(variant, heading=EDITED, publish=False):
    """Save (and optionally publish) a new revision of the variant page's hero heading."""
    page = variant.page.specific
    page.body[0].value["heading"] = heading
    revision = page.save_revision()
    if publish:
        revision.publish()
    return revision


def heading_of(response):
    html = response.content.decode()
    return EDITED if EDITED in html else served_heading(response)


def refreshed(experiment):
    return Experiment.objects.get(pk=experiment.pk)


def test_edits_to_a_variant_page_wait_for_update_variant_content(demo):
    variant = demo.variants.get(key="b")
    pinned = variant.revision_id
    client = client_of(demo, "b")
    assert heading_of(client.get("/landing/")) == "b"

    edit_heading(variant)
    assert heading_of(client.get("/landing/")) == "b"  # saved as a draft: not served
    edit_heading(variant, publish=True)
    assert heading_of(client.get("/landing/")) == "b"  # even published: still pinned
    assert demo.variants.get(key="b").revision_id == pinned

    changed = refreshed(demo).update_variant_content()
    assert list(changed) == ["b"]
    assert heading_of(client.get("/landing/")) == EDITED
    entry = ModelLogEntry.objects.filter(action="wagtail_experiments.update_content").get()
    assert entry.data == {"variants": {"b": changed["b"]}}
    # Publishing made the page live at its own URL: noindex, canonical to the control.
    own = Client(HTTP_USER_AGENT=BROWSER_UA).get("/landing-b/")
    assert own.headers["X-Robots-Tag"] == "noindex"


def test_update_variant_content_in_the_admin_names_what_changed(demo, admin_client):
    edit_heading(demo.variants.get(key="c"))
    url = f"/admin/experiments/update_content/{demo.pk}/"
    edit = admin_client.get(f"/admin/experiments/edit/{demo.pk}/").content.decode()
    assert url in edit
    confirm = admin_client.get(url).content.decode()
    assert "the page was edited since" in confirm  # variant c
    assert "its latest" in confirm  # variant b
    response = admin_client.post(url, follow=True)
    assert "now see the latest content of variants c" in response.content.decode()
    assert heading_of(client_of(demo, "c").get("/landing/")) == EDITED
    history = admin_client.get(f"/admin/experiments/history/{demo.pk}/").content.decode()
    assert "Variants c now served from their latest revisions" in history


def test_update_variant_content_needs_publish_permission_on_every_page(
    demo, django_user_model
):
    edit_heading(demo.variants.get(key="b"))
    _, client = user_with(django_user_model, "manager", experiments=True)
    html = unescape(act(client, "update_content", demo).content.decode())
    assert "You need permission to publish variant “b”'s page “Landing”" in html
    assert heading_of(client_of(demo, "b").get("/landing/")) == "b"
    assert not ModelLogEntry.objects.filter(action="wagtail_experiments.update_content")

    _, publisher = user_with(django_user_model, "publisher", publish_on=[Page.objects.get(depth=1)])
    # Without experiment rights, Wagtail turns the publisher away (a redirect with a message).
    response = publisher.post(f"/admin/experiments/update_content/{demo.pk}/")
    assert response.status_code in (302, 403)
    assert response.headers.get("Location", "/admin/") == "/admin/"
    assert not ModelLogEntry.objects.filter(action="wagtail_experiments.update_content")

    _, owner = user_with(django_user_model, "owner", experiments=True,
                         publish_on=[Page.objects.get(depth=1)])
    act(owner, "update_content", demo)
    assert heading_of(client_of(demo, "b").get("/landing/")) == EDITED


def test_a_variant_page_in_a_workflow_cannot_be_pinned(demo, django_user_model):
    root = Page.objects.get(depth=1)
    owner, client = user_with(django_user_model, "owner", experiments=True, publish_on=[root])
    page = demo.variants.get(key="b").page.specific
    page.save_revision(user=owner)
    Workflow.objects.get(name="Moderators approval").start(page, owner)
    html = unescape(act(client, "update_content", demo).content.decode())
    assert "Variant “b”'s page “Landing” is in a workflow" in html


def test_resume_keeps_the_pinned_content(demo):
    variant = demo.variants.get(key="b")
    demo.pause()
    edit_heading(variant)
    refreshed(demo).resume()
    assert heading_of(client_of(demo, "b").get("/landing/")) == "b"


def test_the_copy_keeps_the_control_title_and_seo_fields(demo, admin_client):
    control = demo.control_page.get_parent().add_child(instance=LandingPage(
        title="Pricing", slug="pricing", seo_title="Pricing that scales",
        search_description="Plans for every team.",
    ))
    control.save_revision().publish()
    admin_client.post(f"/admin/experiments/from-page/{control.pk}/")
    experiment = Experiment.objects.get(control_page=control)
    copy = experiment.variants.get(key="b").page.specific
    assert (copy.title, copy.seo_title, copy.search_description) == (
        "Pricing", "Pricing that scales", "Plans for every team.")
    assert not copy.live
    demo.complete()
    experiment.start()
    response = client_of(experiment, "b").get("/pricing/")
    assert served_key(response) == "b"
    assert "variant" not in response.content.decode().lower().split("<body")[0]


def test_draft_variant_pages_are_nowhere_but_in_their_experiment(demo):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    sitemap = client.get("/sitemap.xml").content.decode()
    assert "http://localhost/landing/" in sitemap
    assert "landing-b" not in sitemap and "landing-c" not in sitemap

    results = client.get("/search/?query=Landing").content.decode()
    assert 'href="/landing/"' in results
    assert "landing-b" not in results and "landing-c" not in results

    home = client.get("/").content.decode()
    assert 'href="/landing/"' in home and "landing-b" not in home

    listing = json.loads(client.get("/api/v2/pages/?limit=20").content)["items"]
    assert {item["meta"]["html_url"] for item in listing} == {
        "http://localhost/", "http://localhost/landing/"
    }
    for key in ("b", "c"):
        page_id = demo.variants.get(key=key).page_id
        assert client.get(f"/api/v2/pages/{page_id}/").status_code == 404
        assert client.get(f"/landing-{key}/").status_code == 404


def test_purging_old_revisions_keeps_what_visitors_are_served(demo):
    variant = demo.variants.get(key="b")
    pinned = variant.revision_id
    edit_heading(variant)
    edit_heading(variant, "Edited again")  # the pinned revision is now an old one
    call_command("purge_revisions", verbosity=0)
    assert Revision.objects.filter(pk=pinned).exists()
    assert heading_of(client_of(demo, "b").get("/landing/")) == "b"


def test_deleting_a_variant_page_deletes_its_revisions_and_pauses(
    demo, django_capture_on_commit_callbacks
):
    variant = demo.variants.get(key="b")
    pinned = variant.revision_id
    with django_capture_on_commit_callbacks(execute=True):
        variant.page.delete()
    assert not Revision.objects.filter(pk=pinned).exists()
    experiment = refreshed(demo)
    assert experiment.status == "paused"
    assert "Variant “b”'s page “Landing” was deleted on" in experiment.pause_reason
    assert served_key(client_of(demo, "b").get("/landing/")) is None


def test_publishing_the_winner_copies_its_pinned_content(demo, admin_client):
    winner = demo.variants.get(key="b")
    edit_heading(winner)  # a later draft, never tested on visitors
    demo.complete(winner=winner)
    demo.promote_winner("publish")
    control = LandingPage.objects.get(pk=demo.control_page_id)
    assert control.body[0].value["heading"] == "Know what converts in a week"
    assert control.title == "Landing" and control.live


def test_changing_a_variant_page_of_a_running_experiment_pins_the_new_page(demo):
    other = demo.control_page.get_parent().add_child(
        instance=LandingPage(title="Other", slug="other", live=False)
    )
    other.save_revision()
    variant = demo.variants.get(key="c")
    variant.page = other
    variant.save()
    assert not variant.is_pinned  # pinned to the page it showed before
    experiment = refreshed(demo)
    assert experiment.pin_missing_content() == ["c"]
    assert experiment.variants.get(key="c").revision.object_id == str(other.pk)


def test_serving_a_winner_never_pinned_pins_it(demo):
    """An experiment completed before pinning existed: promoting its winner in serve mode
    pins the winner's page, so the admin's "served" is what visitors get."""
    winner = demo.variants.get(key="b")
    demo.complete(winner=winner)
    Variant.objects.filter(experiment=demo).update(revision=None)
    experiment = refreshed(demo)
    experiment.promote_winner("serve")
    assert experiment.variants.get(key="b").is_pinned
    assert served_key(Client(HTTP_USER_AGENT=BROWSER_UA).get("/landing/")) == "b"


def test_a_page_a_variant_no_longer_shows_can_be_deleted(demo):
    """The variant's pin still names its old page: deleting that page is not refused."""
    demo.complete()
    variant = demo.variants.get(key="c")
    old_page = variant.page
    variant.page = demo.variants.get(key="b").page
    variant.save()
    old_page.delete()
    assert demo.variants.get(key="c").revision_id is None


def test_a_page_experiment_without_its_control_page_cannot_be_updated(demo, admin_user):
    demo.control_page.delete()
    experiment = refreshed(demo)
    with pytest.raises(ValidationError) as error:
        experiment.update_variant_content(user=admin_user)
    assert "The control page was deleted" in str(error.value)
