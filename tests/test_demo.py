"""The sandbox's demo content, as `make demo` loads it."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from wagtail.models import Page

from sandbox_site.home.demo import ADMIN_PASSWORD, ADMIN_USERNAME
from wagtail_experiments.models import Experiment

from .conftest import BROWSER_UA

pytestmark = pytest.mark.django_db


def test_demo_content_is_idempotent_and_prints_the_login():
    first, second = StringIO(), StringIO()
    call_command("load_demo_content", stdout=first)
    pages = Page.objects.count()
    call_command("load_demo_content", stdout=second)
    assert Page.objects.count() == pages
    assert Experiment.objects.count() == 2
    assert f"username {ADMIN_USERNAME!r}, password {ADMIN_PASSWORD!r}" in second.getvalue()


def test_demo_experiment_is_running_as_specified(demo):
    assert demo.slug == "landing-hero" and demo.status == "running"
    assert demo.hash_seed == "landing-hero" and demo.coverage == 100
    assert [(v.key, int(v.weight)) for v in demo.ordered_variants()] == [
        ("control", 34), ("b", 33), ("c", 33),
    ]
    assert demo.control_page.url == "/landing/"
    # Variants are drafts with the control's title, served from their pinned revisions.
    pages = {v.key: v for v in demo.variants.all()}
    assert pages["control"].page.live and pages["control"].revision is None
    for key in ("b", "c"):
        assert not pages[key].page.live and pages[key].is_pinned
        assert pages[key].page.title == pages["control"].page.title


def test_demo_landing_page_carries_the_cta_goal(demo):
    html = Client(HTTP_USER_AGENT=BROWSER_UA).get("/landing/").content.decode()
    assert 'data-experiment-goal="cta"' in html
    assert "data-block-id=" in html


def test_printed_admin_login_works(demo):
    call_command("load_demo_content", stdout=StringIO())
    client = Client()
    assert client.login(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    assert client.get("/admin/").status_code == 200
