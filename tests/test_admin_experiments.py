"""Managing experiments in the Wagtail admin: forms, validation, lifecycle, promotion."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from sandbox_site.home.models import LandingPage
from wagtail_experiments.models import Experiment

from .conftest import BROWSER_UA
from .helpers import served_heading, served_key, visitor_in

pytestmark = pytest.mark.django_db

ADMIN = "/admin/experiments/"


@pytest.fixture
def new_pages(demo):
    home = demo.control_page.get_parent()
    pages = []
    for slug in ("offer", "offer-b"):
        page = LandingPage(title=slug.title(), slug=slug, body=[
            ("hero", {"heading": f"Heading of {slug}", "subheading": ""}),
        ])
        home.add_child(instance=page)
        page.save_revision().publish()
        pages.append(page)
    return pages


def experiment_form(control, variants, goals=(), **fields):
    """The edit form's POST data; ``goals`` are (name, kind, max value[, role[,
    direction]]) to declare, or stored ``Goal`` rows (an edit form shows them)."""
    goals = [
        (goal.pk, goal.name, goal.kind, goal.max_value or "", goal.role, goal.direction)
        if hasattr(goal, "pk")
        else ("", *goal, *("secondary", "increase")[len(goal) - 3:])
        for goal in goals
    ]
    data = {
        "name": "Offer test", "slug": "offer-test", "hypothesis": "", "control_page": control.pk,
        "coverage": "100", "primary_goal": "lead", "method": "sequential", "alpha": "0.05",
        "minimum_detectable_effect": "10", "hash_seed": "", "hash_version": "2",
        "baseline_rate": "5", "power": "80", "sequential_tuning": "",
        "minimum_conversions": "30", "minimum_days": "7", "decision_rule": "significance",
        "notify_emails": "",
        "chance_to_win": "95", "max_expected_loss": "0.25",
        "starts_at": "", "ends_at": "",
        "variants-TOTAL_FORMS": str(len(variants)), "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "2", "variants-MAX_NUM_FORMS": "1000",
        "goals-TOTAL_FORMS": str(len(goals)),
        "goals-INITIAL_FORMS": str(sum(1 for pk, *_ in goals if pk)),
        "goals-MIN_NUM_FORMS": "0", "goals-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for index, (pk, name, kind, max_value, role, direction) in enumerate(goals):
        data.update({
            f"goals-{index}-name": name, f"goals-{index}-kind": kind,
            f"goals-{index}-role": role, f"goals-{index}-direction": direction,
            f"goals-{index}-max_value": max_value, f"goals-{index}-ORDER": str(index),
            f"goals-{index}-id": pk, f"goals-{index}-DELETE": "",
        })
    for index, (key, page, weight, is_control) in enumerate(variants):
        data.update({
            f"variants-{index}-key": key, f"variants-{index}-label": "",
            f"variants-{index}-page": page.pk, f"variants-{index}-weight": str(weight),
            f"variants-{index}-ORDER": str(index), f"variants-{index}-id": "",
            f"variants-{index}-DELETE": "",
        })
        if is_control:
            data[f"variants-{index}-is_control"] = "on"
    return data


def test_listing_shows_status_and_visitors(demo, admin_client):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.get("/landing/")
    html = admin_client.get(ADMIN).content.decode()
    assert "Landing page hero" in html and "Running" in html
    assert admin_client.get(ADMIN, {"status": "paused"}).status_code == 200


def test_create_form_offers_page_choosers_and_inline_variants(demo, admin_client):
    html = admin_client.get(f"{ADMIN}new/").content.decode()
    assert 'name="control_page"' in html and "variants-TOTAL_FORMS" in html


def test_create_experiment_with_variants(new_pages, admin_client):
    control, other = new_pages
    response = admin_client.post(f"{ADMIN}new/", experiment_form(
        control, [("control", control, 50, True), ("b", other, 50, False)]
    ))
    assert response.status_code == 302, response.content.decode()[:2000]
    experiment = Experiment.objects.get(slug="offer-test")
    assert [(v.key, v.page_id) for v in experiment.ordered_variants()] == [
        ("control", control.pk), ("b", other.pk),
    ]
    assert experiment.status == "draft" and experiment.hash_seed == "offer-test"
    # Whoever creates it is told when it needs them.
    assert experiment.created_by.username == "admin"


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        (lambda c, o: [("control", c, 50, True), ("b", c, 50, False)], "different page"),
        (lambda c, o: [("a", c, 50, False), ("b", o, 50, False)], "Exactly one variant"),
        (lambda c, o: [("control", o, 50, True), ("b", c, 50, False)], "control variant must"),
    ],
)
def test_variant_rules_are_reported_on_the_form(new_pages, admin_client, variants, message):
    control, other = new_pages
    response = admin_client.post(f"{ADMIN}new/", experiment_form(control, variants(control, other)))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Experiment.objects.filter(slug="offer-test").exists()


def test_editing_fixes_a_broken_experiment(new_pages, admin_client):
    """The form judges the submitted variants, not the stored ones."""
    control, other = new_pages
    admin_client.post(f"{ADMIN}new/", experiment_form(
        control, [("control", control, 50, True), ("b", other, 50, False)]
    ))
    experiment = Experiment.objects.get(slug="offer-test")
    data = experiment_form(control, [], experiment.goals.all(), name="Renamed")
    data.update({"variants-TOTAL_FORMS": "2", "variants-INITIAL_FORMS": "2"})
    for index, variant in enumerate(experiment.ordered_variants()):
        data.update({
            f"variants-{index}-id": variant.pk, f"variants-{index}-key": variant.key,
            f"variants-{index}-label": "", f"variants-{index}-page": variant.page_id,
            f"variants-{index}-weight": "50", f"variants-{index}-ORDER": str(index),
            f"variants-{index}-DELETE": "",
        })
        if variant.is_control:
            data[f"variants-{index}-is_control"] = "on"
    response = admin_client.post(f"{ADMIN}edit/{experiment.pk}/", data)
    assert response.status_code == 302
    assert Experiment.objects.get(pk=experiment.pk).name == "Renamed"


def test_lifecycle_actions_with_confirmation(demo, admin_client):
    confirm = admin_client.get(f"{ADMIN}pause/{demo.pk}/")
    assert confirm.status_code == 200 and "Everyone will see the control page" in (
        confirm.content.decode()
    )
    assert admin_client.post(f"{ADMIN}pause/{demo.pk}/").status_code == 302
    assert Experiment.objects.get(pk=demo.pk).status == "paused"
    admin_client.post(f"{ADMIN}resume/{demo.pk}/")
    assert Experiment.objects.get(pk=demo.pk).status == "running"

    # A refused transition shows the model's message instead of failing.
    response = admin_client.post(f"{ADMIN}resume/{demo.pk}/", follow=True)
    assert "Cannot resume an experiment that is running" in response.content.decode()

    edit = admin_client.get(f"{ADMIN}edit/{demo.pk}/").content.decode()
    assert f"{ADMIN}pause/{demo.pk}/" in edit and f"{ADMIN}complete/{demo.pk}/" in edit


def test_lifecycle_needs_the_change_permission(demo, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="x")
    group = Group.objects.create(name="Experiment viewers")
    group.permissions.add(
        Permission.objects.get(codename="access_admin"),
        Permission.objects.get(codename="view_experiment"),
    )
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    assert client.get(ADMIN).status_code == 200
    assert client.post(f"{ADMIN}pause/{demo.pk}/").status_code in (302, 403)
    assert Experiment.objects.get(pk=demo.pk).status == "running"


def test_complete_with_winner_stops_bucketing_and_promotion_serves_it(demo, admin_client):
    winner = demo.variants.get(key="c")
    admin_client.post(f"{ADMIN}complete/{demo.pk}/", {"winner": winner.pk})
    demo.refresh_from_db()
    assert (demo.status, demo.winner_id) == ("completed", winner.pk)
    visitor = Client(HTTP_USER_AGENT=BROWSER_UA)
    visitor.cookies["wexp_vid"] = visitor_in(demo, "b")
    assert served_heading(visitor.get("/landing/")) == "control"

    promoted = admin_client.post(f"{ADMIN}promote/{demo.pk}/", {"mode": "serve"}, follow=True)
    assert ("Every visitor of “Landing page hero” now gets the winner, c, at the control URL."
            in promoted.content.decode())
    response = visitor.get("/landing/")
    assert served_key(response) == "c" == served_heading(response)
    bot = Client(HTTP_USER_AGENT="Googlebot/2.1")
    assert served_heading(bot.get("/landing/")) == "c"  # the winner is the page now
    assert "private" not in response.headers.get("Cache-Control", "")


def test_promotion_can_publish_the_winner_onto_the_control_page(demo, admin_client):
    winner = demo.variants.get(key="b")
    demo.complete(winner=winner)
    published = admin_client.post(f"{ADMIN}promote/{demo.pk}/", {"mode": "publish"},
                                  follow=True)
    assert ("The winner of “Landing page hero”, b, is published onto the control page"
            in published.content.decode())
    control = LandingPage.objects.get(pk=demo.control_page_id)
    assert control.slug == "landing" and control.title == "Landing"
    assert control.body[0].value["heading"] == "Know what converts in a week"
    response = Client(HTTP_USER_AGENT=BROWSER_UA).get("/landing/")
    assert served_heading(response) == "b"
    assert "X-Experiment-Variant" not in response.headers


def test_a_served_winner_collects_nothing_more(demo, admin_client):
    import json

    from wagtail_experiments.models import Event, Lead

    visitor = Client(HTTP_USER_AGENT=BROWSER_UA)
    visitor.cookies["wexp_vid"] = visitor_in(demo, "b")
    assert served_key(visitor.get("/landing/")) == "b"
    demo.complete(winner=demo.variants.get(key="c"))
    demo.promote_winner("serve")
    assert served_heading(visitor.get("/landing/")) == "c"
    reply = visitor.post("/_experiments/api/events", json.dumps(
        {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "late"}
    ), content_type="application/json").json()
    assert reply["accepted"] == 0 and reply["rejected"]
    visitor.post("/landing/", {"wexp_lead_form": "demo-lead", "name": "A", "email": "a@x.test"})
    assert Lead.objects.get().variants.count() == 0
    assert not Event.objects.exists()


def test_publishing_the_winner_needs_publish_permission_on_the_control(demo, django_user_model):
    from django.core.exceptions import ValidationError

    winner = demo.variants.get(key="b")
    demo.complete(winner=winner)
    manager = django_user_model.objects.create_user("manager", password="x")
    with pytest.raises(ValidationError, match="permission to publish"):
        demo.promote_winner("publish", user=manager)
    control = LandingPage.objects.get(pk=demo.control_page_id)
    assert control.body[0].value["heading"] == "Ship experiments, not opinions"


def test_create_a_code_level_experiment_with_targeting_and_payloads(new_pages, admin_client):
    control, other = new_pages
    data = experiment_form(
        control,
        [("control", control, 50, True), ("new-ui", other, 50, False)],
        slug="new-ui",
        control_page="",
        target_utm_sources="Google, newsletter",
        target_devices=["mobile", "tablet"],
        target_locales="en, fr_CA",
    )
    data.update({
        "variants-0-page": "", "variants-1-page": "",
        "variants-0-payload": "{}", "variants-1-payload": '{"new_ui": true, "limit": 3}',
    })
    response = admin_client.post(f"{ADMIN}new/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    experiment = Experiment.objects.get(slug="new-ui")
    assert experiment.is_code_level
    assert experiment.variants.get(key="new-ui").payload == {"new_ui": True, "limit": 3}
    targeting = experiment.targeting()
    assert targeting.utm_source == ("google", "newsletter")
    assert targeting.device == ("mobile", "tablet")
    assert targeting.locale == ("en", "fr-ca")
    experiment.start()
    assert experiment.status == "running"
    edit_html = admin_client.get(f"{ADMIN}edit/{experiment.pk}/").content.decode()
    assert 'value="mobile"' in edit_html and "checked" in edit_html


def test_a_payload_must_be_a_json_object(new_pages, admin_client):
    control, other = new_pages
    data = experiment_form(control, [("control", control, 50, True), ("b", other, 50, False)])
    data.update({"variants-0-payload": "{}", "variants-1-payload": "[1, 2]"})
    response = admin_client.post(f"{ADMIN}new/", data)
    assert response.status_code == 200
    assert "must be a JSON object" in response.content.decode()
    assert not Experiment.objects.filter(slug="offer-test").exists()
