"""Targeting: who may enter an experiment (entry URL's UTM, device, locale, site)."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from wagtail.models import Site

from wagtail_experiments.models import Experiment, Exposure
from wagtail_experiments.targeting import Targeting, TargetingContext, device_class, split_list

from .conftest import BROWSER_UA
from .helpers import SERVER, served_key, visitor_in

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)


def test_rules_match_like_the_published_semantics():
    rules = Targeting(utm_source=("google", "bing"), device=("mobile",), locale=("en", "fr-ca"))
    assert rules.matches(TargetingContext(utm_source="Google ", device="mobile", locale="en-GB"))
    assert rules.matches(TargetingContext(utm_source="bing", device="mobile", locale="fr_CA"))
    assert not rules.matches(TargetingContext(utm_source="", device="mobile", locale="en"))
    assert not rules.matches(TargetingContext(utm_source="google", device="desktop", locale="en"))
    assert not rules.matches(TargetingContext(utm_source="google", device="mobile", locale="fr"))
    assert not rules.matches(TargetingContext(utm_source="google", device="mobile", locale="eng"))
    assert Targeting().is_open and Targeting().matches(TargetingContext())
    assert split_list(" Google, bing ,, google") == ("google", "bing")


def test_device_classes_from_the_user_agent_library():
    assert device_class(IPHONE) == "mobile"
    assert device_class(ANDROID_PHONE) == "mobile"
    assert device_class(IPAD) == "tablet"
    assert device_class(BROWSER_UA) == "desktop"


@pytest.fixture
def mobile_only(demo):
    demo.target_devices = ["mobile"]
    demo.target_utm_sources = "Newsletter, ads"
    demo.target_locales = "en"
    demo.save()
    return demo


@pytest.mark.django_db
def test_visitors_outside_the_rules_see_the_control_and_are_not_counted(mobile_only):
    visitor_id = visitor_in(mobile_only, "b")
    for user_agent, query, language in (
        (BROWSER_UA, "?utm_source=newsletter", "en"),  # desktop
        (IPHONE, "", "en"),  # no UTM source
        (IPHONE, "?utm_source=search", "en"),  # another source
        (IPHONE, "?utm_source=newsletter", "de-DE"),  # another language
    ):
        client = Client(HTTP_USER_AGENT=user_agent, HTTP_ACCEPT_LANGUAGE=language)
        client.cookies["wexp_vid"] = visitor_id
        response = client.get(f"/landing/{query}")
        assert served_key(response) is None, (user_agent, query, language)
        assert "Know what converts" not in response.content.decode()
    assert not Exposure.objects.exists()
    client = Client(HTTP_USER_AGENT=IPHONE, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8")
    client.cookies["wexp_vid"] = visitor_id
    response = client.get("/landing/?utm_source=NEWSLETTER")
    assert served_key(response) == "b"
    assert Exposure.objects.get().utm_source == "NEWSLETTER"
    # Once in, the visitor stays in, even arriving later without the campaign.
    assert served_key(client.get("/landing/")) == "b"


@pytest.mark.django_db
def test_rules_are_part_of_the_published_config(mobile_only):
    body = json.loads(Client().get("/_experiments/api/experiments").content)
    landing = next(item for item in body["experiments"] if item["slug"] == "landing-hero")
    assert landing["targeting"] == {
        "utm_source": ["newsletter", "ads"],
        "utm_medium": [],
        "utm_campaign": [],
        "device": ["mobile"],
        "locale": ["en"],
    }


@pytest.mark.django_db
def test_assignment_api_applies_the_rules_to_the_landing_url(mobile_only):
    visitor_id = visitor_in(mobile_only, "c")
    client = Client(HTTP_USER_AGENT=IPHONE, HTTP_ACCEPT_LANGUAGE="en", **SERVER)
    url = f"/_experiments/api/assignment?visitor_id={visitor_id}&path=/landing/"
    assert json.loads(client.get(url).content)["variant"] is None
    body = json.loads(client.get(url + "%3Futm_source%3Dads").content)
    assert body["variant"] == "c"


@pytest.mark.django_db
def test_site_rule_of_a_code_level_experiment(demo):
    from wagtail_experiments.flags import get_variant

    flag = Experiment.objects.get(slug="home-banner")
    other = Site.objects.create(hostname="other.example", root_page=demo.control_page)
    flag.target_site = other
    flag.save()
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    response = client.get("/")
    assert get_variant(response.wsgi_request, "home-banner") is None
    assert not Exposure.objects.filter(experiment=flag).exists()
    response = client.get("/", HTTP_HOST="other.example")
    assert get_variant(response.wsgi_request, "home-banner") in ("control", "banner")


@pytest.mark.django_db
def test_invalid_rules_are_refused(demo):
    demo.target_devices = ["phone"]
    with pytest.raises(ValidationError) as error:
        demo.full_clean()
    assert "target_devices" in error.value.message_dict
    demo.target_devices = []
    demo.target_site = Site.objects.create(
        hostname="elsewhere.example", root_page=demo.control_page
    )
    with pytest.raises(ValidationError) as error:
        demo.full_clean()
    assert "target_site" in error.value.message_dict
