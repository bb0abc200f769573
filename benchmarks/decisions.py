"""How often the project's own verdict declares a winner, by simulation.

Simulated experiments with daily looks go through ``stats.analyze`` and
``verdicts.verdict`` exactly as the results screen does: an A/A test (both arms convert at
the baseline) gives the false-winner rate of each method and rule, and true lifts give the
power. The analysts' guide quotes a run of ``python -m benchmarks.decisions``; the tests run
the same simulation with fewer experiments.

Needs numpy (a test dependency): no Django, no database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wagtail_experiments import stats
from wagtail_experiments.verdicts import DecisionRule, fixed_look_due, verdict


@dataclass(frozen=True)
class Scenario:
    """One simulated setting: two equal arms, ``daily_visitors`` each per day."""

    baseline: float = 0.05
    minimum_detectable_effect: float = 0.20
    daily_visitors: int = 1000
    days: int = 30
    alpha: float = 0.05
    power: float = 0.8


def decided(scenario, rule, true_lift, experiments, seed):
    """(share of experiments with a winner, share with a loser) within ``scenario.days``
    daily looks: sequential experiments stop at the first decision, fixed-horizon ones
    are judged once, on the first day with the planned sample and the minimums."""
    rng = np.random.default_rng(seed)
    rates = [scenario.baseline, scenario.baseline * (1 + true_lift)]
    daily = rng.binomial(scenario.daily_visitors, rates, size=(experiments, scenario.days, 2))
    conversions = daily.cumsum(axis=1).tolist()
    needed = stats.sample_size(scenario.baseline, scenario.minimum_detectable_effect,
                               scenario.alpha, scenario.power, method="fixed")
    tuning = stats.planned_sequential_tuning(
        scenario.baseline, scenario.minimum_detectable_effect, scenario.alpha, scenario.power
    )
    winners = losers = 0
    for experiment in conversions:
        for day, (control, variant) in enumerate(experiment, start=1):
            visitors = scenario.daily_visitors * day
            analysis = stats.analyze([(visitors, control), (visitors, variant)],
                                     alpha=rule.alpha, method=rule.method,
                                     sequential_tuning=tuning)
            figures = [{"key": key, **row}
                       for key, row in zip(("control", "b"), analysis["variants"], strict=True)]
            # As the results judge a fixed-horizon experiment: once, on its first due day.
            if rule.method == "fixed" and not fixed_look_due(
                figures, rule, days_running=day, visitors_needed=needed
            ):
                continue
            decision = verdict(figures, rule, days_running=day,
                               sample_reached=visitors >= needed)
            if decision["reason"] == "winner":
                winners += 1
                break
            if decision["reason"] == "loser":
                losers += 1
                break
            if rule.method == "fixed":
                break  # judged once
    return winners / experiments, losers / experiments


RULES = {
    "sequential": DecisionRule(method="sequential"),
    "fixed": DecisionRule(method="fixed"),
    "bayesian (sequential looks)": DecisionRule(method="sequential", bayesian=True),
}


def main(experiments=2000):
    scenario = Scenario()
    print(f"{experiments} simulated experiments per row, {scenario}")
    print("rule | A/A false winners | power at +10 % | power at +20 %")
    for name, rule in RULES.items():
        false_winners, _ = decided(scenario, rule, 0.0, experiments, seed=1)
        power_10, _ = decided(scenario, rule, 0.10, experiments, seed=2)
        power_20, _ = decided(scenario, rule, 0.20, experiments, seed=3)
        print(f"{name} | {false_winners:.1%} | {power_10:.1%} | {power_20:.1%}")


if __name__ == "__main__":
    main()
