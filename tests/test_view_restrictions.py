"""Wagtail's view restrictions of both the control and the variant page guard the
bucketed response, exactly as if the page were requested at its own URL."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from wagtail.models import Page, PageViewRestriction

from wagtail_experiments.models import Exposure

from .conftest import BROWSER_UA
from .helpers import SERVER, served_heading, visitor_in

pytestmark = pytest.mark.django_db

RESTRICTED_PAGES = ["control", "variant"]


def restricted_page(demo, which):
    key = "control" if which == "control" else "b"
    return Page.objects.get(pk=demo.variants.get(key=key).page_id)


def visitor_of_b(demo):
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    client.cookies["wexp_vid"] = visitor_in(demo, "b")
    # Build the route table before the restriction exists: adding one must invalidate it.
    assert served_heading(Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER).get("/landing/")) is not None
    Exposure.objects.all().delete()
    return client


@pytest.mark.parametrize("which", RESTRICTED_PAGES)
def test_password_restriction_applies_to_the_bucketed_response(demo, which):
    client = visitor_of_b(demo)
    page = restricted_page(demo, which)
    restriction = PageViewRestriction.objects.create(
        page=page, restriction_type=PageViewRestriction.PASSWORD, password="open sesame"
    )
    response = client.get("/landing/")
    assert response.status_code == 200
    assert served_heading(response) is None
    password_form_url = f"/_util/authenticate_with_password/{restriction.pk}/{page.pk}/"
    assert password_form_url in response.content.decode()
    assert not Exposure.objects.exists()

    client.post(password_form_url, {"password": "open sesame", "return_url": "/landing/"})
    response = client.get("/landing/")
    assert served_heading(response) == "b"
    assert Exposure.objects.get().variant.key == "b"


@pytest.mark.parametrize("which", RESTRICTED_PAGES)
def test_login_restriction_applies_to_the_bucketed_response(demo, which, django_user_model):
    client = visitor_of_b(demo)
    PageViewRestriction.objects.create(
        page=restricted_page(demo, which), restriction_type=PageViewRestriction.LOGIN
    )
    response = client.get("/landing/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/_util/login/?next=/landing/")
    assert not Exposure.objects.exists()

    client.force_login(django_user_model.objects.create_user("reader", password="x"))
    assert served_heading(client.get("/landing/")) == "b"


@pytest.mark.parametrize("which", RESTRICTED_PAGES)
def test_group_restriction_applies_to_the_bucketed_response(demo, which, django_user_model):
    client = visitor_of_b(demo)
    members = Group.objects.create(name="Members")
    restriction = PageViewRestriction.objects.create(
        page=restricted_page(demo, which), restriction_type=PageViewRestriction.GROUPS
    )
    restriction.groups.add(members)
    outsider = django_user_model.objects.create_user("outsider", password="x")
    client.force_login(outsider)
    response = client.get("/landing/")
    assert response.status_code == 302
    assert not Exposure.objects.exists()

    outsider.groups.add(members)
    assert served_heading(client.get("/landing/")) == "b"


def test_variant_restriction_leaves_the_control_arm_alone(demo):
    PageViewRestriction.objects.create(
        page=restricted_page(demo, "variant"),
        restriction_type=PageViewRestriction.PASSWORD,
        password="secret",
    )
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    client.cookies["wexp_vid"] = visitor_in(demo, "control")
    assert served_heading(client.get("/landing/")) == "control"


def test_restriction_on_an_ancestor_of_the_variant_applies(demo):
    client = visitor_of_b(demo)
    variant_page = restricted_page(demo, "variant")
    # Put variant B under a password-protected section.
    section = variant_page.get_parent().add_child(
        instance=Page(title="Private section", slug="private")
    )
    PageViewRestriction.objects.create(
        page=section, restriction_type=PageViewRestriction.PASSWORD, password="secret"
    )
    variant_page.move(section, pos="last-child")
    response = client.get("/landing/")
    assert served_heading(response) is None
    assert "authenticate_with_password" in response.content.decode()


# Headless: the assignment API and API v2 find -------------------------------------------

API = "/_experiments/api"


def assignment(client, visitor_id=None):
    query = "path=/landing/" + (f"&visitor_id={visitor_id}" if visitor_id else "")
    response = client.get(f"{API}/assignment?{query}")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("which", RESTRICTED_PAGES)
def test_the_assignment_api_reveals_and_counts_nothing_past_a_restriction(demo, which):
    client = visitor_of_b(demo)
    page = restricted_page(demo, which)
    restriction = PageViewRestriction.objects.create(
        page=page, restriction_type=PageViewRestriction.PASSWORD, password="open sesame"
    )
    body = assignment(client)
    assert (body["experiment"], body["variant"]) == (None, None)
    assert body["page"]["id"] == demo.control_page_id
    # A server naming the visitor has no session that passed the password either.
    named = assignment(Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER), visitor_in(demo, "b"))
    assert (named["experiment"], named["page"]["id"]) == (None, demo.control_page_id)
    assert not Exposure.objects.exists()

    # Past the password, in this browser session: bucketed and counted as usual.
    client.post(
        f"/_util/authenticate_with_password/{restriction.pk}/{page.pk}/",
        {"password": "open sesame", "return_url": "/landing/"},
    )
    body = assignment(client)
    assert (body["experiment"], body["variant"]) == ("landing-hero", "b")
    assert Exposure.objects.get().variant.key == "b"


def test_the_assignment_api_follows_group_restrictions(demo, django_user_model):
    client = visitor_of_b(demo)
    group = Group.objects.create(name="Members")
    restriction = PageViewRestriction.objects.create(
        page=restricted_page(demo, "variant"), restriction_type=PageViewRestriction.GROUPS
    )
    restriction.groups.add(group)
    member = django_user_model.objects.create_user("member", password="x")
    client.force_login(member)
    assert assignment(client)["variant"] is None
    member.groups.add(group)
    # Logged-in site members who are not editors are visitors like any other.
    assert assignment(client)["variant"] == "b"


@pytest.mark.parametrize("which", RESTRICTED_PAGES)
def test_v2_find_does_not_serve_or_count_past_a_restriction(demo, which):
    client = visitor_of_b(demo)
    PageViewRestriction.objects.create(
        page=restricted_page(demo, which), restriction_type=PageViewRestriction.PASSWORD,
        password="open sesame",
    )
    response = client.get("/api/v2/pages/find/?html_path=/landing/")
    if which == "control":
        assert response.status_code == 404  # Wagtail's API lists no private page
    else:
        assert response.status_code == 302
        location = urlsplit(response["Location"]).path
        assert location == f"/api/v2/pages/{demo.control_page_id}/"
        assert "X-Experiment-Variant" not in response
    assert not Exposure.objects.exists()


@pytest.mark.parametrize("which", RESTRICTED_PAGES)
def test_the_public_config_leaves_out_experiments_of_restricted_pages(demo, which):
    def slugs():
        response = Client().get(f"{API}/experiments")
        return [experiment["slug"] for experiment in response.json()["experiments"]]

    assert "landing-hero" in slugs()
    PageViewRestriction.objects.create(
        page=restricted_page(demo, which), restriction_type=PageViewRestriction.LOGIN
    )
    assert "landing-hero" not in slugs()
    assert "home-banner" in slugs()  # code-level: no page to guard


def test_a_promoted_winner_is_not_revealed_past_the_control_restriction(demo):
    demo.complete(winner=demo.variants.get(key="b"))
    demo.promote_winner("serve")
    PageViewRestriction.objects.create(
        page=restricted_page(demo, "control"), restriction_type=PageViewRestriction.PASSWORD,
        password="open sesame",
    )
    body = assignment(Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER))
    assert (body["experiment"], body["variant"]) == (None, None)
    assert body["page"]["id"] == demo.control_page_id
