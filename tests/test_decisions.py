"""Decisions on stored data: goals with roles, guardrails, the Bayesian rule, minimums,
planning, the settings that drive them, and every screen and API showing the same verdict."""

import json
import random
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from statsmodels.stats.multitest import multipletests

from wagtail_experiments import stats
from wagtail_experiments.models import Goal
from wagtail_experiments.results import experiment_results

from .helpers import days_ago, seed, started_days_ago

pytestmark = pytest.mark.django_db


def seed_goal(experiment, key, goal, conversions, day=0):
    from wagtail_experiments.models import DailyRollup

    DailyRollup.objects.create(
        experiment=experiment, variant=experiment.variants.get(key=key), goal=goal,
        day=days_ago(day), visitors=conversions, events=conversions,
    )


def test_every_declared_goal_gets_statistics_with_its_role(seeded_stats):
    seed_goal(seeded_stats, "control", "signup", 300)
    seed_goal(seeded_stats, "b", "signup", 360)
    seed_goal(seeded_stats, "c", "signup", 290)
    results = experiment_results(seeded_stats)
    goals = {goal["name"]: goal for goal in results["goals"]}
    assert results["goals"][0]["name"] == "lead"
    assert goals["lead"]["role"] == "primary"
    assert goals["purchase"]["role"] == "guardrail"
    assert goals["signup"]["role"] == "secondary"
    signup_b = goals["signup"]["variants"][1]
    expected = stats.analyze([(3400, 300), (3300, 360), (3300, 290)],
                             sequential_tuning=seeded_stats.effective_sequential_tuning())
    assert signup_b["lift"] == pytest.approx(expected["variants"][1]["lift"])
    assert signup_b["p_value"] == pytest.approx(expected["variants"][1]["p_value"])


def test_secondary_goals_are_adjusted_across_goals_and_variants(seeded_stats):
    rng = random.Random(5)
    secondary = ["cta", "signup", "video-played"]
    for goal in secondary:
        for key, visitors in (("control", 3400), ("b", 3300), ("c", 3300)):
            conversions = rng.randint(int(visitors * 0.08), int(visitors * 0.11))
            seed_goal(seeded_stats, key, goal, conversions)
    goals = {goal["name"]: goal for goal in experiment_results(seeded_stats)["goals"]}
    rows = [row for name in secondary for row in goals[name]["variants"][1:]]
    _, expected, _, _ = multipletests([row["p_value"] for row in rows], method="holm")
    assert [row["p_value_adjusted"] for row in rows] == pytest.approx(list(expected))


def test_a_harmed_guardrail_blocks_the_winner_on_every_screen(seeded_stats, admin_client):
    for n in range(10):  # b sells far less than the control
        seed_goal(seeded_stats, "control", "purchase", 40, day=n)
        seed_goal(seeded_stats, "b", "purchase", 10, day=n)
        seed_goal(seeded_stats, "c", "purchase", 39, day=n)
    results = experiment_results(seeded_stats)
    assert results["verdict"]["reason"] == "guardrail_harmed"
    assert results["verdict"]["winner"] is None
    assert results["verdict"]["harmed_guardrails"] == {"b": ["purchase"]}
    purchase = next(goal for goal in results["goals"] if goal["name"] == "purchase")
    assert purchase["harmed_by"] == ["b"]

    html = admin_client.get(f"/admin/experiments/results/{seeded_stats.pk}/").content.decode()
    assert "makes a guardrail goal worse (purchase): no winner." in html
    assert "Winner:" not in html
    api = admin_client.get("/_experiments/api/experiments/landing-hero/results")
    assert api.status_code == 200, api.content
    assert api.json()["verdict"] == results["verdict"]
    output = StringIO()
    call_command("experiment_results", "landing-hero", "--json", stdout=output)
    assert json.loads(output.getvalue())["verdict"] == results["verdict"]
    output = StringIO()
    call_command("experiment_results", "landing-hero", stdout=output)
    assert "verdict on lead: guardrail_harmed." in output.getvalue()


def test_a_guardrail_that_should_go_down(seeded_stats):
    Goal.objects.create(experiment=seeded_stats, name="refund", kind=Goal.Kind.SERVER,
                        role=Goal.Role.GUARDRAIL, direction=Goal.Direction.DECREASE)
    seed_goal(seeded_stats, "control", "refund", 100)
    seed_goal(seeded_stats, "b", "refund", 300)
    seeded_stats = type(seeded_stats).objects.get(pk=seeded_stats.pk)
    assert experiment_results(seeded_stats)["verdict"]["harmed_guardrails"] == {"b": ["refund"]}


def test_minimum_conversions_and_days_are_per_experiment(seeded_stats):
    seeded_stats.minimum_days = 12
    seeded_stats.save()
    verdict = experiment_results(seeded_stats)["verdict"]
    assert (verdict["reason"], verdict["waiting_for"]) == ("collecting_data", {"days": 3})
    seeded_stats.minimum_days = 7
    seeded_stats.minimum_conversions = 400
    seeded_stats.save()
    verdict = experiment_results(seeded_stats)["verdict"]
    assert verdict["waiting_for"] == {"conversions": 70}
    assert verdict["leader"] == "b"


def test_the_bayesian_rule_from_the_experiment_settings(seeded_stats):
    seeded_stats.decision_rule = "bayesian"
    seeded_stats.save()
    verdict = experiment_results(seeded_stats)["verdict"]
    assert (verdict["reason"], verdict["winner"], verdict["rule"]) == ("winner", "b", "bayesian")
    # Certain enough, but no loss at all is acceptable: no winner.
    seeded_stats.max_expected_loss = 0
    seeded_stats.save()
    assert experiment_results(seeded_stats)["verdict"]["reason"] == "not_significant"


def test_planning_follows_the_method_and_forecasts_what_it_can_detect(seeded_stats):
    planning = experiment_results(seeded_stats)["planning"]
    tuning = stats.planned_sequential_tuning(0.05, 0.1, 0.05, 0.8, variants=3)
    assert planning["sequential_tuning"] == tuning
    assert planning["visitors_needed_per_variant"] == stats.sample_size(
        0.05, 0.1, method="sequential", variants=3, sequential_tuning=tuning)
    assert planning["fixed_horizon_visitors_per_variant"] == stats.sample_size(
        0.05, 0.1, method="fixed", variants=3)
    assert (planning["visitors_needed_per_variant"]
            > 1.5 * planning["fixed_horizon_visitors_per_variant"])
    # The control converts at 10 % with 340 conversions: forecasts use that rate.
    assert planning["observed_baseline_rate"] == pytest.approx(0.1)
    assert planning["detectable_effect"] == pytest.approx(stats.detectable_effect(
        0.1, 3300, 0.05, 0.8, method="sequential", variants=3, sequential_tuning=tuning))
    forecasts = planning["detectable_effect_by"]
    assert [f["days"] for f in forecasts] == [7, 14, 28]
    assert forecasts[0]["visitors_per_variant"] == 3300 + 7 * 330
    assert planning["detectable_effect"] > forecasts[0]["lift"] > forecasts[2]["lift"]

    seeded_stats.sequential_tuning = 50_000
    seeded_stats.save()
    assert experiment_results(seeded_stats)["planning"]["sequential_tuning"] == 50_000


def test_the_results_screen_explains_collecting_data_and_the_plan(demo, admin_client):
    started_days_ago(demo, 2)
    for n in range(3):
        seed(demo, "control", days_ago(n), 340, 5)
        seed(demo, "b", days_ago(n), 330, 9)
        seed(demo, "c", days_ago(n), 330, 6)
    html = admin_client.get(f"/admin/experiments/results/{demo.pk}/").content.decode()
    assert ("Collecting data: no verdict before 15 more conversions in the variant with the "
            "fewest, 5 more days of the minimum duration.") in html
    assert "for a sequential test that may be read daily" in html
    assert "With today's visitors it can detect a change of" in html
    assert "Every goal" in html


def test_statistics_settings_are_validated(demo):
    from django.core.exceptions import ValidationError

    demo.started_at = None  # a draft: its plan may still change
    demo.baseline_rate = 60
    demo.minimum_detectable_effect = 80
    with pytest.raises(ValidationError, match="take the rate to 100 %"):
        demo.full_clean()


def test_huge_interval_ends_read_as_uncertainty_not_as_a_bug():
    from wagtail_experiments.templatetags.wagtail_experiments_admin import interval_percent

    assert interval_percent(27_494_348.213) == "> +1,000 %"
    assert interval_percent(0.5) == "+50.0 %"
    assert interval_percent(-0.9999) == "-100.0 %"
    assert interval_percent(None) == "—"


def test_a_new_experiment_says_it_cannot_detect_anything_yet(demo, admin_client):
    seed(demo, "control", days_ago(0), 20, 0)
    seed(demo, "b", days_ago(0), 20, 1)
    seed(demo, "c", days_ago(0), 20, 0)
    html = admin_client.get(f"/admin/experiments/results/{demo.pk}/").content.decode()
    assert "With today's visitors it cannot detect any change yet" in html


def test_a_date_range_shows_its_figures_but_never_changes_the_verdict(seeded_stats):
    """b is better only in the last three days (and as good as the control overall):
    picking those days must not make a winner."""
    from wagtail_experiments.models import DailyRollup

    DailyRollup.objects.filter(experiment=seeded_stats, goal="lead",
                               variant__key="b").update(visitors=10, events=10)
    for n in range(3):
        DailyRollup.objects.filter(experiment=seeded_stats, goal="lead", variant__key="b",
                                   day=days_ago(n)).update(visitors=90, events=90)
    whole = experiment_results(seeded_stats)
    ranged = experiment_results(seeded_stats, since=days_ago(2))
    assert ranged["variants"][1]["p_value_adjusted"] < 0.001  # the range alone looks great
    assert ranged["verdict"] == whole["verdict"]
    assert whole["verdict"]["winner"] is None
    assert ranged["planning"] == whole["planning"]


def test_the_verdict_does_not_depend_on_the_viewer_time_zone(seeded_stats):
    from django.utils import timezone

    seeded_stats.method = "fixed"
    seeded_stats.minimum_detectable_effect = 50
    expected = experiment_results(seeded_stats)["verdict"]
    for zone in ("Etc/GMT+12", "Etc/GMT-14"):
        with timezone.override(zone):
            assert experiment_results(seeded_stats)["verdict"] == expected


def test_starting_keeps_the_sequential_tuning_and_locks_the_plan(demo):
    from django.core.exceptions import ValidationError

    from wagtail_experiments.models import Experiment

    assert demo.sequential_tuning == stats.planned_sequential_tuning(0.05, 0.1, variants=3)
    experiment = Experiment.objects.get(pk=demo.pk)
    experiment.alpha = Decimal("0.1")
    experiment.minimum_days = 3
    experiment.name = "Renamed"
    with pytest.raises(ValidationError) as raised:
        experiment.full_clean()
    assert set(raised.value.message_dict) == {"alpha", "minimum_days"}
    assert "Fixed when the experiment started" in raised.value.message_dict["alpha"][0]


def test_revenue_per_visitor_harms_a_guardrail_and_blocks_the_winner(seeded_stats):
    """As many buy in b as in the control, but they spend a fifth: b cannot win."""
    from wagtail_experiments.models import DailyRollup

    for key, spend in (("control", 100.0), ("b", 20.0), ("c", 100.0)):
        variant = seeded_stats.variants.get(key=key)
        for n in range(10):
            DailyRollup.objects.create(
                experiment=seeded_stats, variant=variant, goal="purchase", day=days_ago(n),
                visitors=40, events=40, value_sum=40 * spend, value_sq_sum=40 * spend**2,
            )
    results = experiment_results(seeded_stats)
    purchase = next(goal for goal in results["goals"] if goal["name"] == "purchase")
    assert purchase["variants"][1]["p_value"] > 0.5  # as many buyers
    assert purchase["revenue"]["variants"][1]["p_value"] < 1e-6
    assert purchase["harmed_by"] == ["b"]
    assert results["verdict"]["reason"] == "guardrail_harmed"

    # As the primary goal, its own revenue per visitor blocks the winner too.
    Goal.objects.filter(experiment=seeded_stats, name="purchase").update(role="secondary")
    seeded_stats.primary_goal = "purchase"
    seeded_stats.save()
    for key, buyers in (("control", 40), ("b", 60), ("c", 40)):
        DailyRollup.objects.filter(experiment=seeded_stats, goal="purchase",
                                   variant__key=key).update(visitors=buyers)
    seeded_stats = type(seeded_stats).objects.get(pk=seeded_stats.pk)
    verdict = experiment_results(seeded_stats)["verdict"]
    assert verdict["reason"] == "guardrail_harmed"
    assert verdict["harmed_guardrails"] == {"b": ["purchase (revenue per visitor)"]}


def test_a_completed_experiment_that_never_decided_says_it_stopped_early(demo, admin_client):
    started_days_ago(demo, 2)
    seed(demo, "control", days_ago(1), 300, 5)
    seed(demo, "b", days_ago(1), 300, 9)
    seed(demo, "c", days_ago(1), 300, 6)
    demo.complete()
    verdict = experiment_results(demo)["verdict"]
    assert verdict["stopped_early"] is True
    html = admin_client.get(f"/admin/experiments/results/{demo.pk}/").content.decode()
    assert "It stopped before a verdict could be taken" in html


def test_a_fixed_horizon_variant_that_stops_converting_is_judged(seeded_stats):
    """Its look day comes although that arm never reaches the minimum conversions."""
    from wagtail_experiments.models import DailyRollup

    seeded_stats.method = "fixed"
    seeded_stats.minimum_detectable_effect = 50
    DailyRollup.objects.filter(experiment=seeded_stats, goal="lead",
                               variant__key="c").update(visitors=0, events=0)
    verdict = experiment_results(seeded_stats)["verdict"]
    assert verdict["frozen_on"] is not None
    assert "c" in verdict["losers"] and verdict["reason"] == "winner"


def test_a_goal_that_should_go_down_driven_to_zero_is_decided():
    from wagtail_experiments.verdicts import DecisionRule, verdict

    rule = DecisionRule(higher_is_better=False)
    analysis = stats.analyze([(57_000, 1400), (57_000, 0)], higher_is_better=False)
    rows = [{"key": key, **row} for key, row in zip(("control", "b"), analysis["variants"],
                                                      strict=True)]
    decision = verdict(rows, rule, days_running=14)
    assert (decision["reason"], decision["winner"]) == ("winner", "b")


def _purchases(experiment, spends, day, visitors=400, prefix="buyer"):
    """``visitors`` buyers per variant on ``day``, each spending ``spends[key]``: their
    events, goal completions (running totals) and the day's rollup, as tracking keeps them."""
    from datetime import datetime, time

    from django.utils.timezone import get_default_timezone

    from wagtail_experiments.models import DailyRollup, Event, GoalCompletion

    at = datetime.combine(day, time(12), tzinfo=get_default_timezone())
    for key, spend in spends.items():
        variant = experiment.variants.get(key=key)
        for n in range(visitors):
            visitor = f"{prefix}-{key}-{n}"
            Event.objects.create(experiment=experiment, variant=variant, visitor_id=visitor,
                                 event_id=f"{visitor}-{day}", type="conversion",
                                 goal="purchase", value=spend, created_at=at)
            completion, _created = GoalCompletion.objects.get_or_create(
                experiment=experiment, variant=variant, goal="purchase", visitor_id=visitor,
                defaults={"created_at": at})
            GoalCompletion.objects.filter(pk=completion.pk).update(
                value_total=completion.value_total + spend)
        DailyRollup.objects.create(experiment=experiment, variant=variant, goal="purchase",
                                   day=day, visitors=visitors, events=visitors,
                                   value_sum=visitors * spend,
                                   value_sq_sum=visitors * spend**2)


def _as_fixed(experiment):
    experiment = type(experiment).objects.get(pk=experiment.pk)
    experiment.method, experiment.minimum_detectable_effect = "fixed", 50
    return experiment


def test_a_capped_revenue_guardrail_counts_at_a_fixed_look(seeded_stats):
    Goal.objects.filter(experiment=seeded_stats, name="purchase").update(value_cap=1000)
    _purchases(seeded_stats, {"control": 100.0, "b": 20.0, "c": 100.0}, days_ago(5))
    verdict = experiment_results(_as_fixed(seeded_stats))["verdict"]
    assert verdict["frozen_on"] is not None
    assert verdict["reason"] == "guardrail_harmed"


def test_purchases_after_a_fixed_look_never_change_its_capped_guardrail(seeded_stats):
    """The look judges each visitor's capped total as it stood at the end of its day: the
    control's big spenders of today show in the figures, not in the frozen verdict."""
    Goal.objects.filter(experiment=seeded_stats, name="purchase").update(value_cap=1000)
    _purchases(seeded_stats, {"control": 50.0, "b": 50.0, "c": 50.0}, days_ago(5))
    before = experiment_results(_as_fixed(seeded_stats))["verdict"]
    assert (before["reason"], before["winner"]) == ("winner", "b")
    assert before["frozen_on"] < days_ago(0).isoformat()

    # Today the control's buyers come back and spend up to the cap; b's and c's do not.
    _purchases(seeded_stats, {"control": 950.0}, days_ago(0))
    results = experiment_results(_as_fixed(seeded_stats))
    purchase = next(goal for goal in results["goals"] if goal["name"] == "purchase")
    now = purchase["revenue"]["variants"]
    assert now[0]["mean"] > 5 * now[1]["mean"] and now[1]["p_value"] < 1e-6
    assert {key: results["verdict"][key] for key in ("reason", "winner", "frozen_on")} == {
        key: before[key] for key in ("reason", "winner", "frozen_on")}


def test_the_split_check_is_the_whole_experiment_s_even_for_a_range(seeded_stats):
    seed(seeded_stats, "b", days_ago(0), 3000, 0, source="burst")
    whole = experiment_results(seeded_stats)
    ranged = experiment_results(seeded_stats, since=days_ago(0))
    assert ranged["srm_detected"] == whole["srm_detected"]
    assert ranged["srm_p_value"] == whole["srm_p_value"]


def test_scheduling_does_not_freeze_the_tuning_until_it_runs(demo):
    from django.utils import timezone

    from wagtail_experiments.models import Experiment

    draft = Experiment.objects.create(name="Later", slug="later", primary_goal="cta")
    for variant in demo.variants.all():
        draft.variants.create(key=variant.key, weight=variant.weight,
                              is_control=variant.is_control, sort_order=variant.sort_order)
    draft.save()
    draft.starts_at = timezone.now() + timezone.timedelta(days=3)
    draft.start()
    assert draft.status == "scheduled" and draft.sequential_tuning is None
    draft.minimum_detectable_effect = 40  # still a plan: it may change before it starts
    draft.full_clean()
    draft.save()
    draft.apply_schedule(draft.starts_at)
    assert draft.status == "running"
    assert draft.sequential_tuning == stats.planned_sequential_tuning(0.05, 0.4, variants=3)


def test_goals_roles_and_guardrails_are_fixed_once_started(demo):
    from django.core.exceptions import ValidationError

    from wagtail_experiments.models import Experiment

    experiment = Experiment.objects.get(pk=demo.pk)
    experiment.primary_goal = "cta"
    with pytest.raises(ValidationError, match="Fixed when the experiment started"):
        experiment.full_clean()
    experiment = Experiment.objects.get(pk=demo.pk)
    goals = list(experiment.goals.all())
    purchase = next(goal for goal in goals if goal.name == "purchase")
    purchase.role = Goal.Role.SECONDARY
    assert experiment.goal_errors(goals) == [
        "Goal “purchase”: its role, direction and cap per visitor are fixed once the "
        "experiment has started."]
    kept = [goal for goal in experiment.goals.all() if goal.name != "purchase"]
    assert experiment.goal_errors(kept) == [
        "The guardrail “purchase” cannot be removed once the experiment has started."]
    # A new goal may still be declared.
    assert experiment.goal_errors([*experiment.goals.all(), Goal(name="newsletter")]) == []


def test_every_goal_says_better_worse_or_no_clear_difference(seeded_stats, admin_client):
    from wagtail_experiments.models import DailyRollup

    for n in range(10):  # b sells far less: its guardrail says "worse"
        seed_goal(seeded_stats, "control", "purchase", 40, day=n)
        seed_goal(seeded_stats, "b", "purchase", 10, day=n)
        seed_goal(seeded_stats, "c", "purchase", 39, day=n)
    assert DailyRollup.objects.filter(goal="purchase").count() == 30
    goals = {goal["name"]: goal for goal in experiment_results(seeded_stats)["goals"]}
    assert [row["outcome"] for row in goals["lead"]["variants"][1:]] == ["better", None]
    assert [row["outcome"] for row in goals["purchase"]["variants"][1:]] == ["worse", None]
    html = admin_client.get(f"/admin/experiments/results/{seeded_stats.pk}/").content.decode()
    assert '<span class="w-status w-status--critical">worse</span>' in html
    assert "no clear difference" in html


def test_a_revenue_goal_says_how_many_buy_and_how_much_each_brings(seeded_stats,
                                                                   admin_client):
    """As many buy in b as in the control but they spend a fifth: the goals table says
    "no clear difference" for buyers and "worse" per visitor, each from its own test."""
    from wagtail_experiments.models import DailyRollup

    Goal.objects.filter(experiment=seeded_stats, name="purchase").update(role="secondary")
    for key, spend in (("control", 100.0), ("b", 20.0), ("c", 100.0)):
        variant = seeded_stats.variants.get(key=key)
        for n in range(10):
            DailyRollup.objects.create(
                experiment=seeded_stats, variant=variant, goal="purchase", day=days_ago(n),
                visitors=40, events=40, value_sum=40 * spend, value_sq_sum=40 * spend**2,
            )
    results = experiment_results(seeded_stats)
    purchase = next(goal for goal in results["goals"] if goal["name"] == "purchase")
    b = purchase["variants"][1]
    assert (b["key"], b["outcome"], b["revenue"]["outcome"]) == ("b", None, "worse")
    assert purchase["variants"][2]["revenue"]["outcome"] is None
    html = admin_client.get(f"/admin/experiments/results/{seeded_stats.pk}/").content.decode()
    table = html[html.index('class="listing wexp-goals"'):]
    table = table[:table.index("</table>")]
    row = next(r for r in table.split("<tr>") if "purchase" in r and "<code>b</code>" in r)
    assert "buyers:" in row and "no clear difference" in row
    assert "per visitor:" in row and "w-status--critical" in row


def test_a_fixed_horizon_goals_table_never_peeks_before_its_look(demo):
    """Three days in, b looks far better but the plan is not reached: the verdict waits,
    and so does every goal's "better"/"worse"."""
    from .helpers import started_days_ago

    started_days_ago(demo, 2)
    for n in range(3):
        seed(demo, "control", days_ago(n), 300, 15)
        seed(demo, "b", days_ago(n), 300, 60)
        seed(demo, "c", days_ago(n), 300, 15)
    demo.method = "fixed"
    results = experiment_results(demo)
    assert results["verdict"]["reason"] == "collecting_data"
    assert results["variants"][1]["p_value_adjusted"] < 1e-6  # what a peek would see
    for goal in results["goals"]:
        assert {row["outcome"] for row in goal["variants"][1:]} == {"not_judged_yet"}
        assert goal["harmed_by"] == []


def test_after_a_fixed_look_the_goals_table_keeps_the_look_s_judgement(seeded_stats):
    """Frozen as "winner b"; then b's buyers stop buying: the purchase guardrail's figures
    show it, but its "harmed" is the look's, as the verdict's is."""
    Goal.objects.filter(experiment=seeded_stats, name="purchase").update(role="guardrail")
    for n in range(10):
        for key in ("control", "b", "c"):
            seed_goal(seeded_stats, key, "purchase", 40, day=n)
    before = experiment_results(_as_fixed(seeded_stats))
    assert (before["verdict"]["reason"], before["verdict"]["winner"]) == ("winner", "b")
    from wagtail_experiments.models import DailyRollup

    DailyRollup.objects.filter(experiment=seeded_stats, goal="purchase", day=days_ago(0),
                               variant__key__in=["control", "c"]).update(visitors=330)
    after = experiment_results(_as_fixed(seeded_stats))
    purchase = next(goal for goal in after["goals"] if goal["name"] == "purchase")
    assert purchase["variants"][1]["p_value"] < 1e-6  # today, b buys far less
    assert purchase["harmed_by"] == [] and purchase["variants"][1]["outcome"] is None
    assert after["verdict"]["winner"] == "b"


def test_a_guardrail_cannot_be_declared_once_started(seeded_stats):
    from django.core.exceptions import ValidationError

    goals = list(seeded_stats.goals.all())
    added = Goal(experiment=seeded_stats, name="refund", role=Goal.Role.GUARDRAIL)
    errors = seeded_stats.goal_errors([*goals, added])
    assert any("can only be secondary" in str(error) for error in errors)
    assert seeded_stats.goal_errors([*goals, Goal(experiment=seeded_stats, name="refund")]) == []
    seeded_stats.minimum_conversions = 0
    with pytest.raises(ValidationError):
        seeded_stats.full_clean()


def test_a_zero_minimum_stored_earlier_still_waits_for_a_conversion(demo):
    from .helpers import started_days_ago

    type(demo).objects.filter(pk=demo.pk).update(minimum_conversions=0)
    demo = type(demo).objects.get(pk=demo.pk)
    started_days_ago(demo, 9)
    seed(demo, "control", days_ago(1), 3400, 0)
    seed(demo, "b", days_ago(1), 3300, 10)
    seed(demo, "c", days_ago(1), 3300, 0)
    verdict = experiment_results(demo)["verdict"]
    assert verdict["reason"] == "collecting_data" and verdict["waiting_for"]["conversions"] == 1


def test_secondary_revenue_rows_join_the_multiple_comparison_correction(seeded_stats):
    from wagtail_experiments.models import DailyRollup

    Goal.objects.filter(experiment=seeded_stats, name="purchase").update(role="secondary")
    for key, spend in (("control", 100.0), ("b", 80.0), ("c", 100.0)):
        variant = seeded_stats.variants.get(key=key)
        for n in range(10):
            DailyRollup.objects.create(
                experiment=seeded_stats, variant=variant, goal="purchase", day=days_ago(n),
                visitors=40, events=40, value_sum=40 * spend, value_sq_sum=40 * spend**2 * 1.5)
    goals = experiment_results(seeded_stats)["goals"]
    secondary = [row for goal in goals if goal["role"] == "secondary"
                 for rows in (goal["variants"], (goal["revenue"] or {}).get("variants", []))
                 for row in rows[1:]]
    revenue_rows = next(g for g in goals if g["name"] == "purchase")["revenue"]["variants"][1:]
    assert all(any(row is r for row in secondary) for r in revenue_rows)
    tested = [row for row in secondary if row["p_value"] is not None]
    assert len(tested) >= 4  # both variants' rates and revenues, at least
    _, expected, _, _ = multipletests([row["p_value"] for row in tested], method="holm")
    assert [row["p_value_adjusted"] for row in tested] == pytest.approx(list(expected))


def test_an_uncapped_revenue_guardrail_is_judged_on_the_look_s_days(seeded_stats):
    """Uncapped: the rollups' per-day sums up to the look, not today's."""
    _purchases(seeded_stats, {"control": 50.0, "b": 50.0, "c": 50.0}, days_ago(5))
    before = experiment_results(_as_fixed(seeded_stats))["verdict"]
    assert (before["reason"], before["winner"]) == ("winner", "b")
    _purchases(seeded_stats, {"control": 950.0}, days_ago(0))
    after = experiment_results(_as_fixed(seeded_stats))
    purchase = next(goal for goal in after["goals"] if goal["name"] == "purchase")
    assert purchase["revenue"]["variants"][1]["p_value"] < 1e-6
    assert (after["verdict"]["reason"], after["verdict"]["winner"]) == ("winner", "b")
