"""Revenue per visitor: running totals kept as events arrive (both write paths), the sum of
squared totals in the rollups, the test in the results, and the per-goal cap."""

import random
from collections import defaultdict

import pytest

from wagtail_experiments import stats
from wagtail_experiments.models import DailyRollup, Goal, GoalCompletion
from wagtail_experiments.results import experiment_results
from wagtail_experiments.tracking import TrackedEvent, record_events, record_exposure

from .helpers import days_ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def purchases(demo):
    """60 visitors in landing-hero; some buy, one to three times, sent one event per request
    (PostgreSQL's one-statement path) or in batches (the general path). Returns the totals
    {variant key: [each visitor's total]} the results must be computed from."""
    rng = random.Random(42)
    totals = defaultdict(list)
    for index in range(60):
        key = ("control", "b", "c")[index % 3]
        visitor_id = f"visitor-{index}"
        variant = demo.variants.get(key=key)
        assert record_exposure(experiment_id=demo.pk, variant_id=variant.pk,
                               visitor_id=visitor_id)
        values = [round(rng.uniform(1, 200), 2) for _ in range(rng.choice([0, 0, 1, 2, 3]))]
        if key == "b":
            values = [value * 1.5 for value in values]
        events = [TrackedEvent(type="conversion", experiment=demo.slug, goal="purchase",
                               event_id=f"{visitor_id}-{n}", value=value)
                  for n, value in enumerate(values)]
        batches = [events] if index % 2 else [[event] for event in events]
        for batch in batches:
            assert not record_events(batch, visitor_id=visitor_id).rejected
        totals[key].append(sum(values))
    return totals


def moments(totals, cap=None):
    capped = [min(total, cap) if cap else total for total in totals]
    return len(capped), sum(capped), sum(total * total for total in capped)


def test_running_totals_and_sum_of_squares_add_up(demo, purchases):
    completions = GoalCompletion.objects.filter(goal="purchase")
    stored = sorted(round(total, 6) for total in completions.values_list("value_total",
                                                                          flat=True))
    sent = sorted(round(total, 6) for totals in purchases.values() for total in totals if total)
    assert stored == sent
    for key, totals in purchases.items():
        rows = DailyRollup.objects.filter(goal="purchase", variant__key=key)
        assert sum(rows.values_list("value_sq_sum", flat=True)) == pytest.approx(
            moments(totals)[2])


def test_results_test_revenue_per_visitor(demo, purchases):
    results = experiment_results(demo)
    revenue = next(g for g in results["goals"] if g["name"] == "purchase")["revenue"]
    expected = stats.analyze_means(
        [moments(purchases[key]) for key in ("control", "b", "c")],
        sequential_tuning=demo.effective_sequential_tuning(),
    )["variants"]
    assert revenue["capped_at"] is None
    for row, figures in zip(revenue["variants"], expected, strict=True):
        for name, value in figures.items():
            assert row[name] == pytest.approx(value, nan_ok=True), name
    # No running totals across a date range: no test rather than a wrong one.
    ranged = experiment_results(demo, since=days_ago(1))
    assert next(g for g in ranged["goals"] if g["name"] == "purchase")["revenue"] is None


def test_a_cap_per_visitor_applies_at_once_to_all_data(demo, purchases):
    Goal.objects.filter(experiment=demo, name="purchase").update(value_cap=150)
    demo = type(demo).objects.get(pk=demo.pk)
    revenue = next(g for g in experiment_results(demo)["goals"]
                   if g["name"] == "purchase")["revenue"]
    expected = stats.analyze_means(
        [moments(purchases[key], cap=150) for key in ("control", "b", "c")],
        sequential_tuning=demo.effective_sequential_tuning(),
    )["variants"]
    assert revenue["capped_at"] == 150
    assert [row["mean"] for row in revenue["variants"]] == pytest.approx(
        [row["mean"] for row in expected])
    assert revenue["variants"][1]["p_value"] == pytest.approx(expected[1]["p_value"])


def test_the_results_screen_shows_revenue_per_visitor(demo, purchases, admin_client):
    html = admin_client.get(f"/admin/experiments/results/{demo.pk}/").content.decode()
    assert "Revenue per visitor: purchase" in html
