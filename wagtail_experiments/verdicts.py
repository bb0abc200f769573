"""What an experiment's numbers support, as one decision and its reason.

Pure Python (no Django), like ``stats``: ``verdict()`` turns ``stats.analyze`` figures into
the decision every screen, the API and the ``experiment_results`` command show, so that
none of them can say more than the numbers do. The reasons, in the order they are checked:

- ``srm``: the visitor split does not fit the weights; nothing can be trusted until the
  assignment or tracking is fixed.
- ``collecting_data``: the control, or a variant not yet shown different from it, has
  fewer conversions than the minimum; the experiment has run fewer days than the minimum; or
  (fixed method) the planned sample is not reached. ``waiting_for`` says what is missing.
- ``guardrail_harmed``: a variant would win, but makes a guardrail goal significantly worse.
- ``winner``: a variant is better than the control (significantly, or under the Bayesian
  rule: likely enough to be better and cheap enough if it is not).
- ``loser``: every variant is worse than the control: keep the control.
- ``not_significant``: none of the above; the data cannot tell the variants apart yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

REASONS = (
    "collecting_data",
    "srm",
    "guardrail_harmed",
    "not_significant",
    "winner",
    "loser",
)
DEFAULT_MINIMUM_CONVERSIONS = 30
DEFAULT_MINIMUM_DAYS = 7
DEFAULT_CHANCE_TO_WIN = 0.95
# GrowthBook's default "risk" threshold: the expected loss, as a share of the control's rate.
DEFAULT_MAX_EXPECTED_LOSS = 0.0025


@dataclass(frozen=True)
class DecisionRule:
    """How an experiment decides, from its settings.

    ``bayesian`` False: a variant wins when its Holm-adjusted p-value is below ``alpha``.
    ``bayesian`` True: when its chance to beat the control is at least ``chance_to_win``
    and its expected loss at most ``max_expected_loss`` of the control's rate (0.0025 =
    0.25 %). ``higher_is_better`` False for a primary goal that should go down.
    """

    alpha: float = 0.05
    method: str = "sequential"
    minimum_conversions: int = DEFAULT_MINIMUM_CONVERSIONS
    minimum_days: int = DEFAULT_MINIMUM_DAYS
    bayesian: bool = False
    chance_to_win: float = DEFAULT_CHANCE_TO_WIN
    max_expected_loss: float = DEFAULT_MAX_EXPECTED_LOSS
    higher_is_better: bool = True


def verdict(
    variants: Sequence[Mapping],
    rule: DecisionRule,
    *,
    srm_detected: bool = False,
    days_running: float = 0,
    sample_reached: bool = True,
    harmed_guardrails: Mapping[str, Sequence[str]] | None = None,
) -> dict:
    """The decision on ``variants`` (control first; each ``stats.analyze``'s figures plus
    its ``key``).

    ``days_running``: how long the experiment has run. ``sample_reached``: whether the
    planned sample size is reached (it matters for the fixed method only).
    ``harmed_guardrails``: {variant key: [guardrail goals it makes significantly worse]}.

    Returns ``reason`` (one of ``REASONS``), ``winner`` (a key or None), ``leader`` (the
    variant most likely best, the control when no challenger is more likely than not to
    beat it), ``losers`` (keys significantly worse than the control), ``significant``
    (a winner is declared), ``waiting_for`` (with ``collecting_data``: ``conversions``
    still missing in the arm with fewest, ``days`` still to run, ``sample`` True while the
    fixed method's planned sample is not reached) and ``harmed_guardrails``
    ({key: [goals]} of variants kept from winning by a guardrail).
    """
    harmed_guardrails = {key: list(goals) for key, goals in (harmed_guardrails or {}).items()
                         if goals}
    control, challengers = variants[0], list(variants[1:])
    decision = {
        "reason": None,
        "winner": None,
        "leader": _leader(control, challengers, rule),
        "losers": [v["key"] for v in challengers if _is_loser(v, control, rule)],
        "significant": False,
        "waiting_for": {},
        "harmed_guardrails": {},
    }
    if srm_detected:
        decision["reason"] = "srm"
        return decision
    waiting_for = missing(variants, rule, days_running=days_running,
                          sample_reached=sample_reached)
    if waiting_for:
        decision.update(reason="collecting_data", waiting_for=waiting_for)
        return decision

    winners = sorted(
        (v for v in challengers if _is_winner(v, control, rule)),
        key=lambda v: _improvement(v, control, rule),
        reverse=True,
    )
    unharmed = [v for v in winners if v["key"] not in harmed_guardrails]
    if unharmed:
        decision.update(reason="winner", winner=unharmed[0]["key"], leader=unharmed[0]["key"],
                        significant=True)
    elif winners:
        decision.update(
            reason="guardrail_harmed",
            harmed_guardrails={v["key"]: harmed_guardrails[v["key"]] for v in winners},
        )
    elif challengers and len(decision["losers"]) == len(challengers):
        decision.update(reason="loser", leader=control["key"])
    else:
        decision["reason"] = "not_significant"
    return decision


def missing(variants: Sequence[Mapping], rule: DecisionRule, *, days_running: float,
            sample_reached: bool = True) -> dict:
    """What a verdict still waits for (``waiting_for``; empty when nothing): conversions,
    days, or (fixed method) the planned sample.

    The minimum conversions apply to the control, and to every variant not already shown
    different from it: one that stopped converting altogether (or, for a goal that should
    go down, drove it to zero) would otherwise keep the experiment waiting forever."""
    judged = [variants[index] for index in awaited_arms(variants, rule)]
    return _waiting_for(judged, rule, days_running, sample_reached)


def awaited_arms(variants: Sequence[Mapping], rule: DecisionRule) -> list[int]:
    """Indices of the arms the minimum of conversions applies to (see ``missing``): the
    control, and every variant not already shown different from it."""
    control_conversions = variants[0].get("conversions") or 0
    return [0, *(index for index, variant in enumerate(variants) if index and not (
        _is_decided(variant, rule) and control_conversions >= rule.minimum_conversions))]


def fixed_look_due(variants: Sequence[Mapping], rule: DecisionRule, *, days_running: float,
                   visitors_needed: int) -> bool:
    """Whether a fixed-horizon experiment is judged on these figures (the data up to the
    end of one day): every arm has ``visitors_needed`` visitors (its planned sample) and
    nothing else is ``missing``. Its first such day is its one look; the verdict taken
    there stays."""
    return (
        bool(visitors_needed)
        and min(v.get("visitors") or 0 for v in variants) >= visitors_needed
        and not missing(variants, rule, days_running=days_running)
    )


def _is_decided(variant, rule):
    """Clearly different from the control, in either direction."""
    if rule.bayesian:
        chance = variant.get("chance_to_beat_control")
        return chance is not None and (chance >= rule.chance_to_win
                                       or chance <= 1 - rule.chance_to_win)
    return _significant(variant, rule)


def _waiting_for(variants, rule, days_running, sample_reached):
    waiting = {}
    fewest = min(v.get("conversions") or 0 for v in variants)
    if fewest < rule.minimum_conversions:
        waiting["conversions"] = rule.minimum_conversions - fewest
    if days_running < rule.minimum_days:
        waiting["days"] = rule.minimum_days - days_running
    if rule.method == "fixed" and not sample_reached:
        waiting["sample"] = True
    return waiting


def harmed_by(variants: Sequence[Mapping], rule: DecisionRule,
              bayesian: bool | None = None) -> list[str]:
    """Keys of the variants that make a guardrail goal worse than the control does:
    significantly so (the unadjusted p-value: a guardrail errs on the side of caution), or
    under the Bayesian rule, at most ``1 - chance_to_win`` likely to be no worse.
    ``variants`` are the goal's figures, control first; ``rule`` carries its direction.
    ``bayesian=False`` judges by significance whatever the rule (for means, which have no
    chance to beat the control)."""
    harmed = []
    for variant in variants[1:]:
        if rule.bayesian if bayesian is None else bayesian:
            chance = variant.get("chance_to_beat_control")
            worse = chance is not None and chance <= 1 - rule.chance_to_win
        else:
            worse = outcome(variant, variants[0], rule, adjusted=False) == "worse"
        if worse:
            harmed.append(variant["key"])
    return harmed


def _leader(control, challengers, rule):
    """The challenger most likely to beat the control (ties to the larger improvement), or
    the control when none is more likely than not to."""
    rated = [v for v in challengers if v.get("chance_to_beat_control") is not None]
    best = max(rated, key=lambda v: (v["chance_to_beat_control"],
                                     _improvement(v, control, rule)), default=None)
    if best is None or best["chance_to_beat_control"] <= 0.5:
        return control["key"] if rated else None
    return best["key"]


def _improvement(variant, control, rule):
    """The lift in the desired direction (larger is better); the difference of rates when
    the lift is undefined (a control without conversions)."""
    lift = variant.get("lift")
    if lift is None:
        lift = variant.get("difference")  # a mean's, when the control's mean is 0
    if lift is None:
        lift = (variant.get("conversion_rate") or 0.0) - (control.get("conversion_rate") or 0.0)
    return lift if rule.higher_is_better else -lift


def _is_winner(variant, control, rule):
    if rule.bayesian:
        chance, loss = variant.get("chance_to_beat_control"), variant.get("expected_loss")
        rate = control.get("conversion_rate") or 0.0
        return (
            chance is not None and loss is not None and rate > 0
            and chance >= rule.chance_to_win and loss <= rule.max_expected_loss * rate
        )
    return outcome(variant, control, rule) == "better"


def _is_loser(variant, control, rule):
    if rule.bayesian:
        chance = variant.get("chance_to_beat_control")
        return chance is not None and chance <= 1 - rule.chance_to_win
    return outcome(variant, control, rule) == "worse"


def outcome(variant: Mapping, control: Mapping, rule: DecisionRule, *,
            adjusted: bool = True) -> str | None:
    """"better" or "worse" than ``control`` in the goal's direction (``rule``), when the
    difference is significant (by the adjusted p-value, or the raw one with
    ``adjusted=False``); None when the data cannot tell."""
    p_value = variant.get("p_value_adjusted" if adjusted else "p_value")
    if p_value is None or p_value >= rule.alpha:
        return None
    improvement = _improvement(variant, control, rule)
    return "better" if improvement > 0 else "worse" if improvement < 0 else None


def _significant(variant, rule):
    p_value = variant.get("p_value_adjusted")
    return p_value is not None and p_value < rule.alpha
