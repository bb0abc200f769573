"""The one results function and the experiment_results command."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from wagtail_experiments.models import Exposure
from wagtail_experiments.results import experiment_results
from wagtail_experiments.tracking import record_exposure

pytestmark = pytest.mark.django_db

SEEDED = {"control": 5, "b": 3, "c": 0}


@pytest.fixture
def seeded(demo):
    for key, count in SEEDED.items():
        variant = demo.variants.get(key=key)
        for index in range(count):
            assert record_exposure(
                experiment_id=demo.pk, variant_id=variant.pk, visitor_id=f"{key}-{index}"
            )
    # Replays of the same visitors add nothing.
    assert record_exposure(
        experiment_id=demo.pk, variant_id=demo.variants.get(key="b").pk, visitor_id="control-0"
    )
    return demo


def test_results_count_unique_exposed_visitors_control_first(seeded):
    results = experiment_results(seeded)
    assert results["experiment"] == "landing-hero"
    assert results["status"] == "running"
    assert results["goal"] == "lead"
    assert results["visitors"] == 8
    assert [(v["key"], v["is_control"], v["weight"], v["visitors"], v["conversions"])
            for v in results["variants"]] == [
        ("control", True, 34.0, 5, 0),
        ("b", False, 33.0, 3, 0),
        ("c", False, 33.0, 0, 0),
    ]
    assert Exposure.objects.count() == 8


def test_results_of_an_empty_experiment_are_zeros(demo):
    assert [v["visitors"] for v in experiment_results(demo)["variants"]] == [0, 0, 0]


def test_command_prints_the_same_results_as_json(seeded):
    output = StringIO()
    call_command("experiment_results", "landing-hero", "--json", stdout=output)
    assert json.loads(output.getvalue()) == experiment_results(seeded)


def test_command_goal_option_selects_the_goal(seeded):
    output = StringIO()
    call_command("experiment_results", "landing-hero", "--json", "--goal", "cta", stdout=output)
    assert json.loads(output.getvalue())["goal"] == "cta"


def test_command_prints_a_table_by_default(seeded):
    output = StringIO()
    call_command("experiment_results", "landing-hero", stdout=output)
    lines = output.getvalue().splitlines()
    assert lines[0].startswith("Landing page hero (landing-hero), running")
    assert lines[2].split() == ["control", "(control)", "34", "5", "0"]


def test_command_rejects_an_unknown_experiment(db):
    with pytest.raises(CommandError, match="No experiment with slug 'nope'"):
        call_command("experiment_results", "nope")


def _expose_and_track(demo, visitor_id, key, utm_source, events):
    from wagtail_experiments.tracking import TrackedEvent, record_events

    variant = demo.variants.get(key=key)
    utm = {"utm_source": utm_source} if utm_source else {}
    assert record_exposure(
        experiment_id=demo.pk, variant_id=variant.pk, visitor_id=visitor_id, utm=utm
    )
    tracked = [
        TrackedEvent(type=kind, experiment=demo.slug, event_id=f"{visitor_id}-{i}", goal=goal,
                     value=value)
        for i, (kind, goal, value) in enumerate(events)
    ]
    assert not record_events(tracked, visitor_id=visitor_id).rejected


def test_results_count_conversions_once_per_visitor_with_values_goals_and_sources(demo):
    lead = ("conversion", "lead", 10.0)
    cta = ("click", "cta", None)
    _expose_and_track(demo, "v1", "control", "newsletter", [lead, lead, cta])
    _expose_and_track(demo, "v2", "control", "", [cta])
    _expose_and_track(demo, "v3", "b", "newsletter", [lead])
    _expose_and_track(demo, "v4", "b", "ads", [])
    _expose_and_track(demo, "v5", "c", "ads", [("conversion", "lead", 5.5), cta, cta])

    results = experiment_results(demo)
    by_key = {variant["key"]: variant for variant in results["variants"]}
    assert (results["visitors"], results["conversions"]) == (5, 3)
    assert [(k, v["visitors"], v["conversions"], v["conversion_events"], v["conversion_value"])
            for k, v in by_key.items()] == [
        ("control", 2, 1, 2, 20.0),
        ("b", 2, 1, 1, 10.0),
        ("c", 1, 1, 1, 5.5),
    ]
    assert by_key["control"]["goals"] == {
        "cta": {"conversions": 2, "events": 2, "value": 0.0},
        "lead": {"conversions": 1, "events": 2, "value": 20.0},
    }
    sources = {row["utm_source"]: row for row in results["utm_sources"]}
    assert {s: (r["visitors"], r["conversions"], r["conversion_value"])
            for s, r in sources.items()} == {
        "": (1, 0, 0), "ads": (2, 1, 5.5), "newsletter": (2, 2, 30.0),
    }
    assert [(v["key"], v["visitors"], v["conversions"]) for v in sources["ads"]["variants"]] == [
        ("control", 0, 0), ("b", 1, 0), ("c", 1, 1),
    ]

    cta_results = experiment_results(demo, goal="cta")
    assert [v["conversions"] for v in cta_results["variants"]] == [2, 0, 1]
    assert [v["conversion_events"] for v in cta_results["variants"]] == [2, 0, 2]
