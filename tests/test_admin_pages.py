"""Experiments seen from the page editor and explorer: the notice, the explorer's tags,
and "Create experiment"."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sandbox_site.home.models import LandingPage
from wagtail_experiments.models import Experiment

pytestmark = pytest.mark.django_db


def test_editing_a_page_under_test_says_so(demo, admin_client):
    html = admin_client.get(f"/admin/pages/{demo.control_page_id}/edit/").content.decode()
    assert "This page is the control of the running experiment" in html
    assert f"/admin/experiments/edit/{demo.pk}/" in html
    variant_b = demo.variants.get(key="b")
    html = admin_client.get(f"/admin/pages/{variant_b.page_id}/edit/").content.decode()
    assert "variant “b”" in html
    home = demo.control_page.get_parent()
    assert "This page is" not in admin_client.get(f"/admin/pages/{home.pk}/edit/").content.decode()
    # The link takes the message's own colour (admin.css), not Wagtail's teal on teal.
    assert 'class="wexp-message-link"' in html
    assert "wagtail_experiments/admin.css" in html


def test_the_explorer_tags_pages_under_test(demo, admin_client):
    home = demo.control_page.get_parent()
    html = admin_client.get(f"/admin/pages/{home.pk}/").content.decode()
    tags = re.findall(r'<a href="([^"]+)" class="w-status[^"]*wexp-page-role"[^>]*>([^<]+)</a>',
                      html)
    edit = f"/admin/experiments/edit/{demo.pk}/"
    assert sorted(tags) == [
        (edit, "Control of “Landing page hero”"),
        (edit, "Variant b of “Landing page hero”"),
        (edit, "Variant c of “Landing page hero”"),
    ]
    demo.pause()
    html = admin_client.get(f"/admin/pages/{home.pk}/").content.decode()
    assert "Variant b of “Landing page hero” (paused)" in html
    demo.complete(winner=demo.variants.get(key="b"))
    demo.promote_winner("serve")
    html = admin_client.get(f"/admin/pages/{home.pk}/").content.decode()
    assert html.count("wexp-page-role") == 1
    assert "Winner of “Landing page hero”, served at its URL" in html


def test_the_explorer_tags_cost_one_query_whatever_the_number_of_pages(demo, admin_client):
    home = demo.control_page.get_parent()

    def role_queries():
        with CaptureQueriesContext(connection) as queries:
            admin_client.get(f"/admin/pages/{home.pk}/")
        return [q for q in queries if "wagtail_experiments_variant" in q["sql"]]

    before = len(role_queries())
    for index in range(5):
        home.add_child(instance=LandingPage(title=f"Extra {index}", slug=f"extra-{index}"))
    assert len(role_queries()) == before


def test_the_explorer_tags_link_to_results_for_viewers_only(demo, client, django_user_model):
    from django.contrib.auth.models import Group, Permission
    from wagtail.models import GroupPagePermission, Page

    viewer = django_user_model.objects.create_user("viewer", password="x")
    group = Group.objects.create(name="viewers")
    group.permissions.add(*Permission.objects.filter(
        codename__in=["access_admin", "view_experiment"]))
    GroupPagePermission.objects.create(
        group=group, page=Page.objects.get(depth=1),
        permission=Permission.objects.get(codename="change_page"),
    )
    viewer.groups.add(group)
    client.force_login(viewer)
    home = demo.control_page.get_parent()
    html = client.get(f"/admin/pages/{home.pk}/").content.decode()
    assert f'href="/admin/experiments/results/{demo.pk}/" class="w-status' in html
    assert "/admin/experiments/edit/" not in html


def test_create_experiment_from_a_page(demo, admin_client):
    page = demo.control_page.get_parent().add_child(
        instance=LandingPage(title="Pricing", slug="pricing")
    )
    edit = admin_client.get(f"/admin/pages/{page.pk}/edit/").content.decode()
    url = f"/admin/experiments/from-page/{page.pk}/"
    assert url in edit
    assert "A draft copy" in admin_client.get(url).content.decode()

    response = admin_client.post(url)
    experiment = Experiment.objects.get(slug="pricing-test")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/experiments/edit/{experiment.pk}/"
    control, copy = [variant.page.specific for variant in experiment.ordered_variants()]
    assert control.pk == page.pk and experiment.control_page_id == page.pk
    # A draft with the control's title: the variant's key and label tell it apart.
    assert (copy.slug, copy.title, copy.live) == ("pricing-b", "Pricing", False)
    assert experiment.variants.get(key="b").label == "Variant B"
    assert experiment.status == "draft"
    # A second experiment from the same page gets fresh slugs.
    admin_client.post(url)
    assert Experiment.objects.filter(slug="pricing-test-2").exists()
    assert LandingPage.objects.filter(slug="pricing-b-2").exists()


def test_create_experiment_from_a_site_home_page(demo, admin_client):
    """The home page sits under the tree's root, outside its site: the copy goes beneath
    it, so that both variants belong to the site."""
    home = demo.control_page.get_parent().specific
    assert home.get_parent().is_root()
    response = admin_client.post(f"/admin/experiments/from-page/{home.pk}/")
    assert response.status_code == 302
    experiment = Experiment.objects.get(control_page=home)
    copy = experiment.variants.get(key="b").page
    assert copy.get_parent().pk == home.pk
    assert copy.get_site() == home.get_site()
    experiment.full_clean()


def test_create_experiment_needs_permission(demo, client, django_user_model):
    from django.contrib.auth.models import Group, Permission

    user = django_user_model.objects.create_user("editor2", password="x")
    group = Group.objects.get(name="Editors")  # Wagtail's default editors: pages, no experiments
    user.groups.add(group)
    assert group.permissions.filter(codename="access_admin").exists()
    assert not Permission.objects.filter(group=group, codename="add_experiment").exists()
    client.force_login(user)
    before = Experiment.objects.count()
    response = client.post(f"/admin/experiments/from-page/{demo.control_page_id}/")
    assert response.status_code in (302, 403)
    assert Experiment.objects.count() == before
