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
