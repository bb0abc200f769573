"""The one results function and the experiment_results command."""

import json
import math
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test.utils import override_settings

from wagtail_experiments.models import Exposure
from wagtail_experiments.results import experiment_results
from wagtail_experiments.tracking import record_exposure

from .helpers import days_ago, seed, started_days_ago

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
    purchase = ("conversion", "purchase", 10.0)
    cta = ("click", "cta", None)
    _expose_and_track(demo, "v1", "control", "newsletter", [purchase, purchase, cta])
    _expose_and_track(demo, "v2", "control", "", [cta])
    _expose_and_track(demo, "v3", "b", "newsletter", [purchase])
    _expose_and_track(demo, "v4", "b", "ads", [])
    _expose_and_track(demo, "v5", "c", "ads", [("conversion", "purchase", 5.5), cta, cta])

    results = experiment_results(demo, goal="purchase")
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
        "purchase": {"conversions": 1, "events": 2, "value": 20.0},
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


# Statistics, verdict, series and planning on seeded rollups ------------------------------

def test_results_carry_every_statistical_figure(seeded_stats):
    from wagtail_experiments import stats

    results = experiment_results(seeded_stats)
    tuning = seeded_stats.effective_sequential_tuning()
    assert tuning == stats.planned_sequential_tuning(0.05, 0.10, 0.05, 0.8, variants=3)
    expected = stats.analyze([(3400, 340), (3300, 500), (3300, 330)], weights=[34, 33, 33],
                             alpha=0.05, method="sequential", sequential_tuning=tuning)
    for variant, figures in zip(results["variants"], expected["variants"], strict=True):
        for name, value in figures.items():
            assert variant[name] == pytest.approx(value, nan_ok=True), name
    assert results["srm_p_value"] == pytest.approx(expected["srm_p_value"])
    assert results["srm_detected"] is False
    assert results["verdict"] == {
        "reason": "winner", "winner": "b", "leader": "b", "losers": [], "significant": True,
        "waiting_for": {}, "harmed_guardrails": {}, "frozen_on": None, "rule": "significance",
        "stopped_early": False,
        "effect": {name: expected["variants"][1][name]
                   for name in ("lift", "lift_ci_low", "lift_ci_high",
                                "chance_to_beat_control")},
    }


def test_sample_ratio_mismatch_blocks_the_verdict(demo):
    for n in range(5):
        seed(demo, "control", days_ago(n), 600, 60)
        seed(demo, "b", days_ago(n), 300, 60)
        seed(demo, "c", days_ago(n), 300, 30)
    results = experiment_results(demo)
    assert results["srm_detected"] is True
    assert results["verdict"]["winner"] is None and results["verdict"]["reason"] == "srm"


def test_fixed_method_waits_for_the_planned_sample_size_then_freezes(seeded_stats):
    from wagtail_experiments import stats

    seeded_stats.method = "fixed"
    seeded_stats.minimum_detectable_effect = 5  # needs far more visitors than 3,300
    results = experiment_results(seeded_stats)
    planning = results["planning"]
    needed = stats.sample_size(0.05, 0.05, alpha=0.05, power=0.8, method="fixed", variants=3)
    assert planning["visitors_needed_per_variant"] == needed
    assert planning["progress"] == pytest.approx(3300 / needed)
    assert planning["recent_daily_visitors_per_variant"] == pytest.approx(330)
    assert planning["days_remaining"] == math.ceil((needed - 3300) / 330)
    verdict = results["verdict"]
    assert (verdict["winner"], verdict["reason"]) == (None, "collecting_data")
    assert verdict["waiting_for"] == {"sample": True}
    assert verdict["leader"] == "b"

    # +50 % needs 1,812 per variant: reached by the end of the sixth day, but the verdict
    # waits for the seventh (the minimum days), then is taken once, on those seven days.
    seeded_stats.minimum_detectable_effect = 50
    assert seeded_stats.planned_sample() == 1812
    frozen = experiment_results(seeded_stats)["verdict"]
    assert (frozen["winner"], frozen["frozen_on"]) == ("b", days_ago(3).isoformat())
    # Later data is shown, but does not change a fixed-horizon answer.
    seed(seeded_stats, "control", days_ago(1), 3400, 340, source="late")
    seed(seeded_stats, "b", days_ago(1), 3300, 0, source="late")
    seed(seeded_stats, "c", days_ago(1), 3300, 330, source="late")
    later = experiment_results(seeded_stats)
    assert later["variants"][1]["lift"] < 0
    assert later["verdict"] == frozen
def test_daily_series_and_date_filter(seeded_stats):
    results = experiment_results(seeded_stats)
    control_points = results["daily"][0]["points"]
    assert [p["day"] for p in control_points] == [days_ago(n).isoformat() for n in range(9, -1, -1)]
    assert all(p["visitors"] == 340 and p["conversions"] == 34 for p in control_points)
    assert control_points[-1]["cumulative_conversion_rate"] == pytest.approx(0.1)

    recent = experiment_results(seeded_stats, since=days_ago(2), until=days_ago(0))
    assert [v["visitors"] for v in recent["variants"]] == [1020, 990, 990]
    assert len(recent["daily"][1]["points"]) == 3


def test_funnel_of_step_events(demo):
    from wagtail_experiments.models import Event

    variant = demo.variants.get(key="b")
    for visitor, last_step in (("v1", 3), ("v2", 2), ("v3", 1), ("v4", 3)):
        for step in range(1, last_step + 1):
            Event.objects.create(experiment=demo, variant=variant, visitor_id=visitor,
                                 event_id=f"{visitor}-{step}", type="custom", goal="signup",
                                 step=step, metadata={"time_spent_ms": step * 1000})
    funnel = experiment_results(demo, goal="signup")["funnel"]
    assert funnel["steps"] == [1, 2, 3]
    b_steps = next(v for v in funnel["variants"] if v["key"] == "b")["steps"]
    assert [(s["visitors"], s["drop_off"], s["mean_time_spent_ms"]) for s in b_steps] == [
        (4, None, 1000.0), (3, pytest.approx(0.25), 2000.0), (2, pytest.approx(1 / 3), 3000.0),
    ]
    control_steps = funnel["variants"][0]["steps"]
    assert [s["visitors"] for s in control_steps] == [0, 0, 0]


def test_the_leader_is_the_winner_when_there_is_one(demo):
    started_days_ago(demo, 7)
    for n in range(7):
        seed(demo, "control", days_ago(n), 3400, 100)
        seed(demo, "b", days_ago(n), 3300, 900)
        seed(demo, "c", days_ago(n), 3300, 1200)  # both certain to beat the control
    verdict = experiment_results(demo)["verdict"]
    assert verdict["winner"] == verdict["leader"] == "c"


@override_settings(WAGTAIL_EXPERIMENTS={"RESULTS_MAX_UTM_SOURCES": 3})
def test_many_utm_sources_show_the_top_ones_and_the_rest_as_other(demo):
    """A flood of made-up sources cannot bloat the results: the top sources by visitors
    one by one, the rest together; every total still adds up."""
    seed(demo, "control", days_ago(0), 50, 5)  # no source
    for index in range(40):
        seed(demo, "b", days_ago(0), 100 - index, 1, source=f"src-{index:02d}")
    results = experiment_results(demo)
    rows = {row["utm_source"]: row for row in results["utm_sources"]}
    assert list(rows) == ["", "src-00", "src-01", "src-02", "(other)"]
    assert rows["(other)"]["visitors"] == sum(100 - index for index in range(3, 40))
    assert rows["(other)"]["conversions"] == 37
    assert sum(row["visitors"] for row in rows.values()) == 50 + sum(
        100 - index for index in range(40))
    variants = {v["key"]: v for v in results["variants"]}
    assert variants["b"]["visitors"] == sum(100 - index for index in range(40))


@override_settings(WAGTAIL_EXPERIMENTS={"ROLLUP_MAX_UTM_SOURCES": 3})
def test_rollups_count_the_first_utm_sources_and_later_new_ones_as_other(demo):
    """Capped when written, through the page path: made-up sources cannot add rollup rows
    without bound. A visitor's own exposure keeps the source it landed with, and its
    events roll up under the same name as its exposure."""
    from django.db.models import Sum
    from django.test import Client

    from wagtail_experiments.models import DailyRollup, Exposure

    from .conftest import BROWSER_UA

    for index in range(8):
        client = Client(HTTP_USER_AGENT=BROWSER_UA)
        assert client.get("/landing/", {"utm_source": f"src-{index}"}).status_code == 200
        client.post("/_experiments/api/events", {"type": "click", "experiment": "landing-hero",
                                                  "goal": "cta", "id": "e"},
                    content_type="application/json")
    sources = set(DailyRollup.objects.values_list("utm_source", flat=True))
    assert sources == {"src-0", "src-1", "src-2", "(other)"}
    exposures = DailyRollup.objects.filter(goal="", utm_source="(other)")
    assert exposures.aggregate(Sum("visitors"))["visitors__sum"] == 5
    clicks = DailyRollup.objects.filter(goal="cta", utm_source="(other)")
    assert clicks.aggregate(Sum("visitors"))["visitors__sum"] == 5
    assert Exposure.objects.filter(utm_source="src-7").exists()


def ten_days_of(demo, conversions):
    """Ten days of 600 visitors a day per variant, enough for the +50 % plan (5,133 per
    variant, sequentially); ``conversions(key, n)``: the variant's conversions n days ago."""
    demo.minimum_detectable_effect = 50
    demo.save()
    started_days_ago(demo, 9)
    for n in range(10):
        for key in ("control", "b", "c"):
            seed(demo, key, days_ago(n), 600, conversions(key, n))


def test_days_remaining_waits_for_the_minimum_of_conversions(demo):
    from wagtail_experiments.models import DailyRollup

    # In the slowest arm one conversion a day: the verdict waits for 30 per arm, 20 days.
    ten_days_of(demo, lambda key, n: {"control": 1, "b": 3, "c": 2}[key])
    results = experiment_results(demo)
    assert results["planning"]["reached"] is True
    assert results["verdict"]["reason"] == "collecting_data"
    assert results["planning"]["days_remaining"] == 20

    # Before any conversion: 600 visitors a day at the planned 5 % baseline make 30 a day.
    DailyRollup.objects.filter(experiment=demo, goal="lead").update(visitors=0, events=0)
    assert experiment_results(demo)["planning"]["days_remaining"] == 1


def test_days_remaining_takes_each_arm_at_its_own_pace(demo):
    # b has 20 conversions at 2 a day (5 more days); c has 25, all before the last week,
    # so at its overall 2.5 a day (2 more days): the slower of the two, 5.
    ten_days_of(demo, lambda key, n: {"control": 3, "b": 2, "c": 25 if n == 9 else 0}[key])
    results = experiment_results(demo)
    assert results["verdict"]["waiting_for"] == {"conversions": 10}
    assert results["planning"]["days_remaining"] == 5


def test_days_remaining_ignores_an_arm_the_verdict_does_not_wait_for(demo):
    # b stopped converting: clearly worse than the control, which has its 40 conversions,
    # so the verdict does not wait for b's 30, and neither do the days remaining.
    ten_days_of(demo, lambda key, n: {"control": 4, "b": 0, "c": 4}[key])
    results = experiment_results(demo)
    assert "conversions" not in results["verdict"]["waiting_for"]
    assert results["planning"]["days_remaining"] == 0


def test_the_screen_says_how_long_the_minimum_of_conversions_takes(demo, admin_client):
    ten_days_of(demo, lambda key, n: {"control": 1, "b": 3, "c": 2}[key])
    html = admin_client.get(f"/admin/experiments/results/{demo.pk}/").content.decode()
    assert "About 20 days remaining at recent traffic." in html
