"""``verdicts.verdict``: every reason, and what the decision rules do in simulation.

No database: verdicts are pure Python, fed with ``stats.analyze``'s figures.
"""

import pytest

from benchmarks.decisions import RULES, Scenario, decided
from wagtail_experiments import stats
from wagtail_experiments.verdicts import REASONS, DecisionRule, harmed_by, verdict

RULE = DecisionRule()


def figures(*counts, **options):
    """``analyze``'s figures with keys control, b, c, ..."""
    analysis = stats.analyze(counts, **options)
    keys = ["control", "b", "c", "d"]
    return [{"key": key, **row} for key, row in zip(keys, analysis["variants"], strict=False)]


def test_collecting_data_says_what_is_missing():
    decision = verdict(figures((500, 12), (500, 40)), RULE, days_running=3)
    assert decision["reason"] == "collecting_data"
    assert decision["winner"] is None and decision["significant"] is False
    assert decision["waiting_for"] == {"conversions": 18, "days": 4}
    # The leader is still shown: b is far more likely than not to be better.
    assert decision["leader"] == "b"


def test_a_control_without_conversions_is_collecting_data_not_insignificant():
    decision = verdict(figures((5000, 0), (5000, 40)), RULE, days_running=30)
    assert (decision["reason"], decision["waiting_for"]) == ("collecting_data",
                                                             {"conversions": 30})


def test_fixed_method_waits_for_its_planned_sample():
    fixed = DecisionRule(method="fixed")
    counts = figures((5000, 250), (5000, 350), method="fixed")
    waiting = verdict(counts, fixed, days_running=10, sample_reached=False)
    assert (waiting["reason"], waiting["waiting_for"]) == ("collecting_data", {"sample": True})
    assert verdict(counts, fixed, days_running=10)["reason"] == "winner"


def test_winner_loser_and_not_significant():
    winner = verdict(figures((5000, 250), (5000, 350)), RULE, days_running=10)
    assert (winner["reason"], winner["winner"], winner["leader"]) == ("winner", "b", "b")
    loser = verdict(figures((5000, 350), (5000, 250)), RULE, days_running=10)
    assert (loser["reason"], loser["winner"], loser["losers"], loser["leader"]) == (
        "loser", None, ["b"], "control")
    unclear = verdict(figures((5000, 250), (5000, 262)), RULE, days_running=10)
    assert (unclear["reason"], unclear["winner"], unclear["losers"]) == (
        "not_significant", None, [])
    # One of two challengers worse, the other unclear: not decided yet.
    mixed = verdict(figures((5000, 350), (5000, 250), (5000, 340)), RULE, days_running=10)
    assert (mixed["reason"], mixed["losers"]) == ("not_significant", ["b"])


def test_srm_comes_first():
    decision = verdict(figures((5000, 250), (5000, 350)), RULE, srm_detected=True,
                       days_running=0)
    assert (decision["reason"], decision["winner"]) == ("srm", None)


def test_a_harmed_guardrail_blocks_the_winner_and_the_next_best_may_win():
    counts = figures((5000, 250), (5000, 400), (5000, 350))
    blocked = verdict(counts, RULE, days_running=10, harmed_guardrails={"b": ["refunds"]})
    assert (blocked["reason"], blocked["winner"]) == ("winner", "c")
    both = verdict(counts, RULE, days_running=10,
                   harmed_guardrails={"b": ["refunds"], "c": ["refunds", "bounces"]})
    assert (both["reason"], both["winner"]) == ("guardrail_harmed", None)
    assert both["harmed_guardrails"] == {"b": ["refunds"], "c": ["refunds", "bounces"]}


def test_guardrails_harmed_in_their_own_direction_unadjusted():
    refunds = figures((5000, 50), (5000, 90), (5000, 52), higher_is_better=False)
    lower_is_better = DecisionRule(higher_is_better=False)
    assert harmed_by(refunds, lower_is_better) == ["b"]
    assert harmed_by(refunds, RULE) == []  # more refunds would be "better" the other way


def test_a_goal_that_should_go_down():
    rule = DecisionRule(higher_is_better=False)
    fewer = figures((5000, 350), (5000, 250), higher_is_better=False)
    decision = verdict(fewer, rule, days_running=10)
    assert (decision["reason"], decision["winner"]) == ("winner", "b")


def test_bayesian_rule_needs_both_the_chance_and_a_small_expected_loss():
    strict = DecisionRule(bayesian=True, chance_to_win=0.95, max_expected_loss=0.0025)
    clear = figures((5000, 250), (5000, 350))
    assert verdict(clear, strict, days_running=10)["winner"] == "b"
    likely = figures((5000, 250), (5000, 285))
    assert 0.9 < likely[1]["chance_to_beat_control"] < 0.95
    assert verdict(likely, strict, days_running=10)["reason"] == "not_significant"
    lenient = DecisionRule(bayesian=True, chance_to_win=0.9, max_expected_loss=0.01)
    assert verdict(likely, lenient, days_running=10)["winner"] == "b"
    expensive = DecisionRule(bayesian=True, chance_to_win=0.9, max_expected_loss=0.0001)
    assert verdict(likely, expensive, days_running=10)["winner"] is None


def test_every_reason_is_documented():
    from wagtail_experiments import verdicts

    for reason in REASONS:
        assert f"``{reason}``" in verdicts.__doc__


# Simulations: A/A tests looked at daily for 30 days through the verdict -------------------

SIMULATED = 600


def test_a_a_false_winners_stay_below_alpha_with_daily_sequential_looks():
    false_winners, false_losers = decided(Scenario(), RULES["sequential"], 0.0, SIMULATED,
                                          seed=11)
    assert false_winners + false_losers <= Scenario().alpha / 2


def test_a_a_fixed_horizon_decides_once_at_alpha():
    """Judged once, the two-sided test errs alpha / 2 each way (4,000 experiments: one look
    each is cheap; the bounds allow three standard errors of simulation noise)."""
    false_winners, false_losers = decided(Scenario(), RULES["fixed"], 0.0, 4000, seed=11)
    assert false_winners <= Scenario().alpha / 2 + 0.0075
    assert false_winners + false_losers <= Scenario().alpha + 0.01


def test_the_bayesian_rule_peeks_at_the_rate_the_guide_documents():
    """Daily looks at a Bayesian rule are not protected against peeking: the analysts'
    guide documents about 15 % false winners in this setting, and says so plainly."""
    false_winners, _ = decided(Scenario(), RULES["bayesian (sequential looks)"], 0.0,
                               SIMULATED, seed=12)
    assert 0.08 <= false_winners <= 0.20


def test_power_at_the_planned_effect():
    """+20 % is the scenario's MDE: the fixed test reaches its planned sample on day 9 and
    detects it about 80 % of the time; the sequential one by day 30 more often."""
    fixed, _ = decided(Scenario(), RULES["fixed"], 0.20, SIMULATED, seed=13)
    sequential, _ = decided(Scenario(), RULES["sequential"], 0.20, SIMULATED, seed=14)
    assert fixed == pytest.approx(0.8, abs=0.06)
    assert sequential >= 0.8


def test_power_at_half_the_planned_effect_is_what_the_guide_reports():
    """+10 %, half the MDE: the analysts' guide reports about 34 % (fixed, judged once on
    day 9) and 49 % (sequential, by day 30); three standard errors of simulation noise."""
    fixed, _ = decided(Scenario(), RULES["fixed"], 0.10, SIMULATED, seed=15)
    sequential, _ = decided(Scenario(), RULES["sequential"], 0.10, SIMULATED, seed=16)
    assert fixed == pytest.approx(0.339, abs=0.06)
    assert sequential == pytest.approx(0.486, abs=0.065)


def test_a_variant_that_stops_converting_is_a_loser_not_collecting_data():
    """Fisher's exact test judges it, and it needs no minimum conversions of its own."""
    decision = verdict(figures((14_000, 700), (14_000, 0)), RULE, days_running=14)
    assert (decision["reason"], decision["losers"]) == ("loser", ["b"])


def test_a_guardrail_driven_to_zero_is_harmed():
    purchases = figures((14_000, 560), (14_000, 0), (14_000, 550))
    assert harmed_by(purchases, RULE) == ["b"]
    # Lower is better, and the control has none: the variant that adds some harms it.
    refunds = figures((5_000, 0), (5_000, 40), higher_is_better=False)
    assert harmed_by(refunds, DecisionRule(higher_is_better=False)) == ["b"]
