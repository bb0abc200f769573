"""Declared goals: an experiment records only the goals it declares, server-only goals
cannot be sent by clients, and values stay within each goal's bound."""

import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from wagtail_experiments.models import DailyRollup, Event, Experiment, Goal, GoalCompletion, Lead

from .conftest import BROWSER_UA
from .helpers import exposed_visitor, visitor_in
from .test_admin_experiments import ADMIN, experiment_form, new_pages  # noqa: F401

pytestmark = pytest.mark.django_db

URL = "/_experiments/api/events"


def send(client, *events):
    body = {"events": [
        {"type": "conversion", "experiment": "landing-hero", "id": f"e{index}", **event}
        for index, event in enumerate(events)
    ]}
    response = client.post(URL, json.dumps(body), content_type="application/json")
    assert response.status_code == 202
    return response.json()


def test_events_of_undeclared_goals_are_rejected_with_a_reason_and_store_nothing(demo):
    client = exposed_visitor(demo)
    answer = send(client, {"goal": "cta"}, {"goal": "made-up"}, {"goal": "cta-2", "step": 1})
    assert answer["accepted"] == 1
    assert answer["rejected"] == [
        {"index": 1, "error": "Goal 'made-up' is not declared by experiment 'landing-hero'."},
        {"index": 2, "error": "Goal 'cta-2' is not declared by experiment 'landing-hero'."},
    ]
    assert list(Event.objects.values_list("goal", flat=True)) == ["cta"]
    assert set(DailyRollup.objects.values_list("goal", flat=True)) == {"", "cta"}


def test_server_only_goals_cannot_be_sent_but_lead_forms_count_them(demo):
    client = exposed_visitor(demo)
    answer = send(client, {"goal": "lead"})
    assert answer["accepted"] == 0
    assert "recorded by the server only" in answer["rejected"][0]["error"]
    assert not GoalCompletion.objects.exists()

    response = client.post("/_experiments/api/leads", json.dumps(
        {"form": "demo-lead", "data": {"name": "Ada", "email": "ada@x.test"}}
    ), content_type="application/json")
    assert response.status_code == 201
    completion = GoalCompletion.objects.get()
    assert (completion.goal, completion.variant.key) == ("lead", "b")
    assert Lead.objects.get().variants.get().key == "b"


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"goal": "cta", "value": 2.5}, "Goal 'cta' takes no value"),
        ({"goal": "cta", "value": -1}, "Goal 'cta' takes no value"),
        ({"goal": "purchase", "value": 5000.01}, "Goal 'purchase' takes a value from 0 to 5,000."),
        ({"goal": "purchase", "value": -20}, "Goal 'purchase' takes a value from 0 to 5,000."),
        ({"goal": "video-played", "value": 3601}, "takes a value from 0 to 3,600."),
    ],
)
def test_values_outside_a_goals_bound_are_rejected(demo, event, error):
    answer = send(exposed_visitor(demo), event)
    assert answer["accepted"] == 0 and error in answer["rejected"][0]["error"]
    assert not Event.objects.exists()
    assert not DailyRollup.objects.exclude(goal="").exists()


def test_values_within_the_bound_count(demo):
    answer = send(exposed_visitor(demo), {"goal": "purchase", "value": 5000},
                  {"goal": "purchase", "value": 0.5}, {"goal": "video-played", "value": 12},
                  {"goal": "cta", "value": 0})  # 0 adds nothing: as good as no value
    assert answer == {"accepted": 4, "duplicates": 0, "rejected": []}
    rollup = DailyRollup.objects.get(goal="purchase")
    assert (rollup.visitors, rollup.events, rollup.value_sum) == (1, 2, 5000.5)


def test_a_revenue_goal_without_a_maximum_takes_up_to_the_default(demo):
    purchase = demo.goals.get(name="purchase")
    purchase.max_value = None
    purchase.save()
    answer = send(exposed_visitor(demo), {"goal": "purchase", "value": 10_000},
                  {"goal": "purchase", "value": 10_000.01})
    assert answer["accepted"] == 1
    assert "from 0 to 10,000." in answer["rejected"][0]["error"]


def test_a_goal_declared_while_running_counts_at_once(demo):
    client = exposed_visitor(demo)
    assert send(client, {"goal": "newsletter"})["accepted"] == 0
    demo.goals.add(Goal(name="newsletter"))
    demo.save()
    assert send(client, {"goal": "newsletter"}) == {"accepted": 1, "duplicates": 0,
                                                    "rejected": []}


def test_naming_the_primary_goal_declares_it(demo):
    from wagtail_experiments.models import LeadForm

    assert LeadForm.objects.filter(goal="lead").exists()
    experiment = Experiment(name="Pricing", slug="pricing", primary_goal="lead")
    experiment.save()
    experiment.primary_goal = "signup"
    experiment.save()
    assert list(experiment.goals.values_list("name", "kind")) == [
        ("signup", "event"), ("lead", "server"),
    ]


def test_an_experiment_whose_primary_goal_is_not_declared_cannot_start(demo):
    demo.pause()
    demo.goals.all().delete()
    demo.refresh_from_db()
    with pytest.raises(ValidationError, match="Declare the primary goal “lead”"):
        demo.check_can_run()


def test_goals_are_declared_in_the_admin_form(new_pages, admin_client):  # noqa: F811
    control, other = new_pages
    response = admin_client.post(f"{ADMIN}new/", experiment_form(
        control, [("control", control, 50, True), ("b", other, 50, False)],
        goals=[("purchase", "revenue", "250"), ("cta", "event", "")],
    ))
    assert response.status_code == 302, response.content.decode()[:3000]
    experiment = Experiment.objects.get(slug="offer-test")
    declared = {goal.name: (goal.kind, goal.max_value) for goal in experiment.goals.all()}
    assert declared == {
        "lead": ("server", None), "purchase": ("revenue", 250), "cta": ("event", None),
    }
    edit = admin_client.get(f"{ADMIN}edit/{experiment.pk}/").content.decode()
    assert re.search(r'name="goals-\d-name"[^>]*value="purchase"', edit)


@pytest.mark.parametrize(
    ("goals", "message"),
    [
        ([("cta", "event", ""), ("cta", "event", "")], "duplicate data for experiment and name"),
        ([("no spaces", "event", "")], "Letters, digits"),
        ([("purchase", "revenue", "-5")], "greater than or equal to 0.01"),
    ],
)
def test_bad_goals_are_reported_on_the_form(new_pages, admin_client, goals, message):  # noqa: F811
    control, other = new_pages
    response = admin_client.post(f"{ADMIN}new/", experiment_form(
        control, [("control", control, 50, True), ("b", other, 50, False)], goals=goals,
    ))
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert not Experiment.objects.filter(slug="offer-test").exists()


def test_an_event_rolls_up_under_its_exposures_source_whatever_the_process_admitted(demo):
    """Exposures admit UTM sources; events follow them. A visitor counted under "(other)"
    converts under "(other)" too, even in a process (or after a restart) with room to
    admit its source, on every path."""
    from django.test.utils import override_settings

    from wagtail_experiments.rollup_sources import forget_admitted_sources

    clients = {}
    with override_settings(WAGTAIL_EXPERIMENTS={"ROLLUP_MAX_UTM_SOURCES": 1}):
        for source in ("first", "second"):
            clients[source] = Client(HTTP_USER_AGENT=BROWSER_UA)
            clients[source].cookies["wexp_vid"] = visitor_in(demo, "b")
            clients[source].get("/landing/", {"utm_source": source})
    forget_admitted_sources()
    with override_settings(WAGTAIL_EXPERIMENTS={"ROLLUP_MAX_UTM_SOURCES": 5}):
        for client in clients.values():
            assert send(client, {"goal": "cta"})["accepted"] == 1  # one event: one statement
            answer = send(client, {"goal": "signup", "id": "s"}, {"goal": "purchase", "id": "p"})
            assert answer["accepted"] == 2
    rollups = DailyRollup.objects.filter(variant__key="b").values_list("goal", "utm_source")
    assert sorted(rollups) == sorted(
        (goal, source) for goal in ("", "cta", "signup", "purchase")
        for source in ("first", "(other)")
    )


def test_swapping_goal_names_or_dropping_the_primary_goal_is_explained(demo, admin_client):
    goals = {goal.name: goal for goal in demo.goals.all()}
    demo.goals = [
        Goal(pk=goals["cta"].pk, name="signup", kind="event", sort_order=1),
        Goal(pk=goals["signup"].pk, name="cta", kind="event", sort_order=2),
    ]
    with pytest.raises(ValidationError) as error:
        demo.full_clean()
    messages = " ".join(error.value.messages)
    assert "“signup” was another goal's name until now" in messages
    assert "The primary goal “lead” cannot be removed" in messages


def test_goal_names_follow_one_pattern_everywhere(demo):
    from wagtail_experiments.models import LeadForm

    demo.started_at = None  # a draft, whose primary goal may still change
    demo.primary_goal = "_signup"
    with pytest.raises(ValidationError, match="starting with a letter or digit"):
        demo.full_clean()
    demo.primary_goal = "video.played"  # not a slug, but a goal the tracker may send
    demo.full_clean()
    lead_form = LeadForm.objects.get(slug="demo-lead")
    lead_form.goal = "-lead"
    with pytest.raises(ValidationError, match="starting with a letter or digit"):
        lead_form.full_clean()


def test_a_lead_in_an_experiment_not_declaring_its_goal_is_kept_and_logged(demo, caplog):
    import logging

    demo.goals.filter(name="lead").delete()
    client = exposed_visitor(demo)
    with caplog.at_level(logging.WARNING):
        response = client.post("/_experiments/api/leads", json.dumps(
            {"form": "demo-lead", "data": {"name": "Ada", "email": "ada@x.test"}}
        ), content_type="application/json")
    assert response.status_code == 201 and Lead.objects.exists()
    assert not GoalCompletion.objects.exists()
    assert "Goal 'lead' is not declared by experiment 'landing-hero'" in caplog.text
    assert "ada@x.test" not in caplog.text


def test_the_results_goal_selector_lists_declared_goals_first(demo, admin_client):
    DailyRollup.objects.create(experiment=demo, variant=demo.variants.get(key="b"),
                               goal="old-goal", day="2026-11-01", visitors=1, events=1)
    html = admin_client.get(f"/admin/experiments/results/{demo.pk}/").content.decode()
    options = re.findall(r'<option value="([^"]*)"', html)
    goal_options = options[:options.index("old-goal") + 1]
    assert goal_options == ["lead", "cta", "signup", "video-played", "purchase", "old-goal"]


def test_the_edit_form_explains_instead_of_failing_on_goal_renames(new_pages, admin_client):  # noqa: F811
    control, other = new_pages
    variants = [("control", control, 50, True), ("b", other, 50, False)]
    admin_client.post(f"{ADMIN}new/", experiment_form(
        control, variants, goals=[("cta", "event", ""), ("signup", "event", "")]))
    experiment = Experiment.objects.get(slug="offer-test")
    goals = list(experiment.goals.all())
    data = experiment_form(control, variants, goals)
    data.update({"variants-INITIAL_FORMS": "2"})
    for index, variant in enumerate(experiment.ordered_variants()):
        data[f"variants-{index}-id"] = variant.pk
    names = {goal.name: index for index, goal in enumerate(goals)}
    data[f"goals-{names['cta']}-name"], data[f"goals-{names['signup']}-name"] = "signup", "cta"
    data[f"goals-{names['lead']}-DELETE"] = "on"
    response = admin_client.post(f"{ADMIN}edit/{experiment.pk}/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "was another goal&#x27;s name until now" in html or "was another goal's name" in html
    assert "cannot be removed" in html
    assert sorted(experiment.goals.values_list("name", flat=True)) == ["cta", "lead", "signup"]
