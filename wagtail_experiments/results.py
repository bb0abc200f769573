"""The one function that turns stored data into an experiment's results.

Every screen, command and API endpoint calls ``experiment_results``; none of them queries
exposures or events itself. Counts come from the daily rollups (one query, whatever the
traffic); the funnel reads the few step events through a partial index. Every statistical
figure comes from ``stats.analyze`` and ``stats.sample_size``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, time, timedelta

from django.db.models import Avg, Case, Count, FloatField, Sum, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Least
from django.utils.timezone import get_default_timezone
from django.utils.translation import gettext as _

from . import stats, verdicts
from .conf import get_setting
from .models import DailyRollup, Event, GoalCompletion
from .rollup_sources import OTHER_SOURCES

EXPOSURES = DailyRollup.EXPOSURES
RECENT_DAYS = 7


class _Rollups:
    """The experiment's rollup rows, indexed once for every sum the results need."""

    def __init__(self, experiment, since=None, until=None):
        rows = DailyRollup.objects.filter(experiment=experiment)
        if since:
            rows = rows.filter(day__gte=since)
        if until:
            rows = rows.filter(day__lte=until)
        # A date range cuts visitors' running totals: their squares no longer add up.
        self.whole_experiment = not (since or until)
        # visitors, events, value, and the squares of visitors' running totals
        self._sums = defaultdict(lambda: [0, 0, 0.0, 0.0])
        self._goals = defaultdict(set)
        self._days, self._sources = set(), set()
        rows = list(
            rows.values_list("variant_id", "goal", "day", "utm_source")
            .annotate(Sum("visitors"), Sum("events"), Sum("value_sum"), Sum("value_sq_sum"))
            .order_by()
        )
        shown = _top_sources(rows, get_setting("RESULTS_MAX_UTM_SOURCES"))
        for variant_id, goal, day, source, visitors, events, value, squares in rows:
            if source not in shown:
                source = OTHER_SOURCES
            for key in (
                (goal, variant_id, None, None),
                (goal, variant_id, "day", day),
                (goal, variant_id, "source", source),
                (goal, None, "source", source),
            ):
                sums = self._sums[key]
                sums[0] += visitors
                sums[1] += events
                sums[2] += value
                sums[3] += squares
            self._days.add(day)
            if goal == EXPOSURES:
                self._sources.add(source)
            else:
                self._goals[variant_id].add(goal)

    def total(self, goal, variant_id=None, *, day=None, utm_source=None, through=None):
        """(visitors, events, value) of ``goal``, for a variant, a day, a UTM source, or
        the days up to ``through`` (inclusive)."""
        return self._all(goal, variant_id, day, utm_source, through)[:3]

    def squares(self, goal, variant_id, through=None):
        """The sum of the squares of ``goal``'s per-visitor totals in a variant, at the end
        of ``through`` (default: now): the days' increments add up to exactly that."""
        return self._all(goal, variant_id, None, None, through)[3]

    def _all(self, goal, variant_id, day, utm_source, through):
        if through is not None:
            rows = [self._all(goal, variant_id, d, None, None) for d in self.days() if d <= through]
            return tuple(sum(column) for column in zip((0, 0, 0.0, 0.0), *rows, strict=True))
        if day is not None:
            key = (goal, variant_id, "day", day)
        elif utm_source is not None:
            key = (goal, variant_id, "source", utm_source)
        else:
            key = (goal, variant_id, None, None)
        return tuple(self._sums.get(key, (0, 0, 0.0, 0.0)))

    def goals(self, variant_id):
        return sorted(self._goals[variant_id])

    def sources(self):
        return sorted(self._sources, key=lambda source: (source == OTHER_SOURCES, source))

    def days(self):
        return sorted(self._days)


def _top_sources(rows, limit):
    """The ``limit`` UTM sources with the most exposed visitors (and "", no source): the
    rest are shown together as ``OTHER_SOURCES``, so a flood of made-up sources cannot
    bloat the results."""
    visitors = defaultdict(int)
    for _variant_id, goal, _day, source, count, *_sums in rows:
        if goal == EXPOSURES:
            visitors[source] += count
    ranked = sorted(visitors, key=lambda source: (-visitors[source], source))
    return {"", *ranked[:limit]} if limit else set(visitors) | {""}


def experiment_results(experiment, goal=None, since=None, until=None):
    """Everything known about ``experiment`` on ``goal`` (default: its primary goal),
    optionally limited to the days ``since``..``until`` (dates, inclusive).

    Per variant (control first): visitors (unique, exposed), conversions (unique visitors
    reaching the goal), conversion value and events, every ``stats.analyze`` figure, and the
    counts of every other goal. Then: SRM check, the statistics of every declared goal
    (``goals``), the verdict on the primary goal (``verdicts.verdict``), planning, daily
    series, UTM-source breakdown and the funnel of ``step`` events.
    """
    goal = goal or experiment.primary_goal
    rule = experiment.decision_rule_settings()
    rollups = _Rollups(experiment, since, until)
    ordered = experiment.ordered_variants()
    declared = list(experiment.goals.all())
    tuning = experiment.effective_sequential_tuning(len(ordered))
    higher_is_better = {g.name: g.higher_is_better for g in declared}

    variants = []
    for variant in ordered:
        visitors = rollups.total(EXPOSURES, variant.pk)[0]
        conversions, events, value = rollups.total(goal, variant.pk)
        variants.append({
            "key": variant.key,
            "label": variant.label or variant.key,
            "is_control": variant.is_control,
            "weight": float(variant.weight),
            "page_id": variant.page_id,
            "visitors": visitors,
            # A date range can hold conversions of visitors exposed before it began.
            "conversions": min(conversions, visitors),
            "conversion_events": events,
            "conversion_value": value,
            "goals": {
                name: dict(zip(("conversions", "events", "value"),
                               rollups.total(name, variant.pk), strict=True))
                for name in rollups.goals(variant.pk)
            },
        })

    analysis = _analyze(
        [(v["visitors"], v["conversions"]) for v in variants], rule, tuning,
        weights=[v["weight"] for v in variants],
        higher_is_better=higher_is_better.get(goal, True),
    )
    for variant, figures in zip(variants, analysis["variants"], strict=True):
        variant.update({k: v for k, v in figures.items() if k not in variant})

    # The verdict and the plan are the experiment's, whatever range is shown: a range
    # picked after the fact must not be able to make a winner.
    whole = rollups if rollups.whole_experiment else _Rollups(experiment)
    # The primary goal's figures on all the data: what the plan waits on, and the verdict
    # of every look but a fixed horizon's.
    current = _primary_figures(experiment, ordered, whole, rule, tuning)
    planning = _planning(experiment, ordered, whole, rule, tuning, current)
    # Whether the split fits the weights is a question about all the data so far, also
    # when a range is shown or the verdict was taken at an earlier look.
    split = analysis if whole is rollups else _analyze(
        _counts(whole, ordered, goal), rule, tuning, weights=[v["weight"] for v in variants])
    goals = _goal_statistics(experiment, ordered, rollups, declared, rule, tuning)
    verdict, judged = _verdict(experiment, ordered, whole, declared, rule, tuning, planning,
                               split["srm_detected"], current,
                               goals if whole is rollups else None)
    if rule.method == "fixed":
        _judge_as_at_the_look(goals, judged if verdict["frozen_on"] else None)
    outcome = _outcome(experiment)
    if outcome is not None or experiment.status == experiment.Status.PAUSED:
        planning["days_remaining"] = None  # no traffic is coming
        planning["detectable_effect_by"] = []
    return {
        "experiment": experiment.slug,
        "name": experiment.name,
        "status": experiment.status,
        "pause_reason": experiment.pause_reason or None,
        "outcome": outcome,
        "goal": goal,
        "primary_goal": experiment.primary_goal,
        "method": experiment.method,
        "decision_rule": experiment.decision_rule,
        "alpha": rule.alpha,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "visitors": sum(v["visitors"] for v in variants),
        "conversions": sum(v["conversions"] for v in variants),
        "variants": variants,
        "srm_p_value": split["srm_p_value"],
        "srm_detected": split["srm_detected"],
        "goals": goals,
        "verdict": verdict,
        "planning": planning,
        "daily": _daily(ordered, goal, rollups, rule.alpha),
        "utm_sources": _utm_breakdown(ordered, goal, rollups),
        "funnel": _funnel(experiment, ordered, goal, since, until),
    }


def _analyze(counts, rule, tuning, *, weights=None, higher_is_better=True):
    """``stats.analyze`` with the experiment's settings (nothing to compare below 2 arms)."""
    if len(counts) < 2:
        return {"variants": [{} for _ in counts], "srm_p_value": 1.0, "srm_detected": False}
    return stats.analyze(counts, weights=weights, alpha=rule.alpha, method=rule.method,
                         sequential_tuning=tuning, higher_is_better=higher_is_better)


def _counts(rollups, ordered, goal, through=None):
    """(visitors, conversions) per variant, overall or up to the day ``through``."""
    counts = []
    for variant in ordered:
        visitors = rollups.total(EXPOSURES, variant.pk, through=through)[0]
        conversions = rollups.total(goal, variant.pk, through=through)[0]
        counts.append((visitors, min(conversions, visitors)))
    return counts


def _goal_statistics(experiment, ordered, rollups, declared, rule, tuning, through=None):
    """Every declared goal's figures, the primary goal first. Secondary goals' p-values are
    Holm-adjusted across all of their comparisons (goals x variants), so that a dozen of
    them do not turn up a "significant" one by luck; a guardrail lists the variants that
    make it significantly worse (``harmed_by``), uncorrected, to err on the side of caution.
    """
    goals = []
    for goal in sorted(declared, key=lambda g: (g.name != experiment.primary_goal,
                                                g.sort_order or 0, g.name)):
        role = "primary" if goal.name == experiment.primary_goal else goal.role
        analysis = _analyze(_counts(rollups, ordered, goal.name, through), rule, tuning,
                            higher_is_better=goal.higher_is_better)
        figures = [{"key": variant.key, **row}
                   for variant, row in zip(ordered, analysis["variants"], strict=True)]
        goal_rule = replace(rule, higher_is_better=goal.higher_is_better)
        revenue = None
        if goal.kind == goal.Kind.REVENUE:
            revenue = _revenue(experiment, ordered, rollups, goal, rule, tuning, through)
        # How much each visitor brings, made significantly worse (revenue goals).
        revenue_harmed = [] if revenue is None or role == "secondary" else verdicts.harmed_by(
            revenue["variants"], goal_rule, bayesian=False)
        harmed = []
        if role == "guardrail":
            # Fewer convert, or they bring less: either harms a guardrail.
            harmed = verdicts.harmed_by(figures, goal_rule)
            harmed += [key for key in revenue_harmed if key not in harmed]
        goals.append({
            "name": goal.name,
            "role": role,
            "kind": goal.kind,
            "higher_is_better": goal.higher_is_better,
            "variants": figures,
            "harmed_by": harmed,
            "revenue": revenue,
            # A winner on the primary goal must not bring significantly less per visitor.
            "revenue_harmed_by": revenue_harmed if role == "primary" else [],
        })
    secondary = [row for g in goals if g["role"] == "secondary"
                 for rows in (g["variants"], (g["revenue"] or {}).get("variants", []))
                 for row in rows[1:]]
    adjusted = stats.holm_adjust([row.get("p_value") for row in secondary])
    for row, p_value in zip(secondary, adjusted, strict=True):
        row["p_value_adjusted"] = p_value
    for goal in goals:
        _judge_rows(goal, rule)
    return goals


def _judge_as_at_the_look(goals, judged):
    """A fixed-horizon experiment is judged once, goals included: each goal's "better",
    "worse" and "harmed" are those of its look (``judged``: the goals' statistics on the
    data up to that day), and before the look there are none ("not_judged_yet"), so that
    the goals table cannot peek at the data the verdict waits for."""
    at_look = {goal["name"]: goal for goal in judged or ()}
    for goal in goals:
        then = at_look.get(goal["name"])
        goal["harmed_by"] = list(then["harmed_by"]) if then else []
        goal["revenue_harmed_by"] = list(then["revenue_harmed_by"]) if then else []
        rows = {row["key"]: row for row in (then or {}).get("variants", [])}
        for row in goal["variants"][1:]:
            row["outcome"] = rows[row["key"]].get("outcome") if row["key"] in rows else (
                "not_judged_yet")
            if "revenue" in row:
                earlier = rows.get(row["key"], {}).get("revenue")
                row["revenue"]["outcome"] = earlier.get("outcome") if earlier else (
                    "not_judged_yet")


def _judge_rows(goal, rule):
    """Each variant's ``outcome`` on a goal, as its table reads it (``verdicts.outcome``):
    "better", "worse" or None. Guardrails judge by the unadjusted p-value, as they do when
    they block a winner, and a variant that harms one is "worse"."""
    goal_rule = replace(rule, higher_is_better=goal["higher_is_better"])
    adjusted = goal["role"] != "guardrail"
    control = goal["variants"][0]
    for row in goal["variants"][1:]:
        row["outcome"] = "worse" if row["key"] in goal["harmed_by"] else verdicts.outcome(
            row, control, goal_rule, adjusted=adjusted)
    if goal["revenue"]:
        # A revenue goal says two things: how many buy (above) and how much each visitor
        # brings, each by its own test; every rate row carries its revenue row.
        revenue_rows = goal["revenue"]["variants"]
        for row, revenue_row in zip(goal["variants"][1:], revenue_rows[1:], strict=True):
            revenue_row["outcome"] = verdicts.outcome(revenue_row, revenue_rows[0], goal_rule,
                                                      adjusted=adjusted)
            row["revenue"] = revenue_row


def _revenue(experiment, ordered, rollups, goal, rule, tuning, through=None):
    """The revenue-per-visitor test of a revenue goal (``stats.analyze_means``): every
    exposed visitor counts, with their total of the goal's values (0 without any), capped
    at the goal's ``value_cap`` when it has one; at the end of the day ``through`` if given.
    None with a date range: a visitor's total then straddles its
    start."""
    if not rollups.whole_experiment or len(ordered) < 2:
        return None
    visitors = [rollups.total(EXPOSURES, v.pk, through=through)[0] for v in ordered]
    if goal.value_cap is None:
        sums = [(rollups.total(goal.name, v.pk, through=through)[2],
                 rollups.squares(goal.name, v.pk, through=through)) for v in ordered]
    else:
        cap = float(goal.value_cap)
        capped = (_capped_totals(experiment, goal.name, cap) if through is None
                  else _capped_totals_through(experiment, goal.name, cap, through))
        sums = [capped.get(variant.pk, (0.0, 0.0)) for variant in ordered]
    arms = [(n, total, squares) for n, (total, squares) in zip(visitors, sums, strict=True)]
    analysis = stats.analyze_means(arms, alpha=rule.alpha, method=rule.method,
                                   sequential_tuning=tuning)
    return {
        "capped_at": float(goal.value_cap) if goal.value_cap is not None else None,
        "variants": [{"key": variant.key, **row}
                     for variant, row in zip(ordered, analysis["variants"], strict=True)],
    }


def _capped_totals(experiment, goal, cap):
    """{variant id: (sum, sum of squares)} of visitors' totals capped at ``cap``, from the
    running totals kept on their goal completions: a cap applies at once, to all data."""
    capped = Least("value_total", Value(cap), output_field=FloatField())
    rows = (
        GoalCompletion.objects.filter(experiment=experiment, goal=goal)
        .values_list("variant_id")
        .annotate(total=Sum(capped), squares=Sum(capped * capped))
        .order_by()
    )
    return {variant_id: (total or 0.0, squares or 0.0) for variant_id, total, squares in rows}


def _capped_totals_through(experiment, goal, cap, day):
    """As ``_capped_totals``, with each visitor's total as it stood at the end of ``day``,
    added up from the stored events: a fixed-horizon look keeps judging by the data of its
    day, so later purchases cannot change a frozen verdict."""
    totals = (
        Event.objects.filter(experiment=experiment, goal=goal,
                             created_at__lt=_midnight(day + timedelta(days=1)))
        .exclude(type=Event.Type.IMPRESSION)
        .values_list("variant_id", "visitor_id")
        .annotate(total=Sum("value"))
        .order_by()
    )
    sums = defaultdict(lambda: [0.0, 0.0])
    for variant_id, _visitor, total in totals.iterator():
        capped = min(total or 0.0, cap)
        sums[variant_id][0] += capped
        sums[variant_id][1] += capped * capped
    return {variant_id: tuple(pair) for variant_id, pair in sums.items()}


def _verdict(experiment, ordered, rollups, declared, rule, tuning, planning, srm_detected,
             current, goals=None):
    """``verdicts.verdict`` on the primary goal. A sequential experiment is judged on all
    its data at every look. A fixed-horizon one is judged once: on the data up to the
    first full day that reached its planned sample and minimums, and that answer stays
    (later data is shown, but cannot change it). ``current``: the primary goal's figures
    on all of ``rollups``; ``goals``: the goals' statistics on all of ``rollups`` when
    already computed (both reused for a look at all the data). Returns the
    decision and the goals' statistics it was taken on."""
    look, days_running, sample_reached = None, _days_running(experiment, rollups), True
    if rule.method == "fixed":
        look = _fixed_horizon_day(experiment, ordered, rollups, rule, planning, tuning)
        sample_reached = look is not None
        if look is not None:
            days_running = _days_through(experiment, rollups, look)
    figures = current if look is None else _primary_figures(
        experiment, ordered, rollups, rule, tuning, look)
    if len(figures) < 2:
        return {"reason": "collecting_data", "winner": None, "leader": None, "losers": [],
                "significant": False, "waiting_for": {}, "harmed_guardrails": {},
                "frozen_on": None, "rule": experiment.decision_rule, "stopped_early": False,
                "effect": None}, []
    guardrails = {}
    if goals is None or look is not None:
        goals = _goal_statistics(experiment, ordered, rollups, declared, rule, tuning, look)
    for goal in goals:
        for key in goal["harmed_by"]:
            guardrails.setdefault(key, []).append(goal["name"])
        for key in goal["revenue_harmed_by"]:
            guardrails.setdefault(key, []).append(_("%(goal)s (revenue per visitor)") % {
                "goal": goal["name"]})
    decision = verdicts.verdict(
        figures, rule,
        srm_detected=srm_detected,
        days_running=days_running,
        sample_reached=sample_reached,
        harmed_guardrails=guardrails,
    )
    # What the headline says of the variant it names: its lift and interval.
    named = decision["winner"] or decision["leader"]
    decision["effect"] = next(
        ({name: row.get(name) for name in ("lift", "lift_ci_low", "lift_ci_high",
                                           "chance_to_beat_control")}
         for row in figures[1:] if row["key"] == named), None)
    decision["frozen_on"] = look.isoformat() if look is not None else None
    decision["rule"] = experiment.decision_rule
    # Completed or archived while still collecting: it stopped before it could decide.
    decision["stopped_early"] = (
        decision["reason"] == "collecting_data"
        and experiment.status in (experiment.Status.COMPLETED, experiment.Status.ARCHIVED)
    )
    return decision, goals


def _start_day(experiment, rollups):
    if experiment.started_at:
        return DailyRollup.day_of(experiment.started_at)
    days = rollups.days()
    return days[0] if days else None


def _days_through(experiment, rollups, day):
    """Days the experiment has run by the end of ``day``, its first day counting as one."""
    start = _start_day(experiment, rollups)
    return max((day - start).days + 1, 0) if start is not None else 0


def _days_running(experiment, rollups):
    """Full days run so far, counted as for a fixed-horizon look (its first day counting as
    one, today not until it ends); up to its end once the experiment is over."""
    end = DailyRollup.day_of(experiment.completed_at) if experiment.completed_at else None
    if end is None:
        end = DailyRollup.day_of() - timedelta(days=1)
    return _days_through(experiment, rollups, end)


def _fixed_horizon_day(experiment, ordered, rollups, rule, planning, tuning):
    """The first full day by whose end the look is due (``verdicts.fixed_look_due``: the
    planned visitors in every arm, the minimum days and conversions); None until there is
    one. Today is not full until it ends, unless the
    experiment is over."""
    needed = planning["visitors_needed_per_variant"]
    if not needed or len(ordered) < 2:
        return None
    finished = experiment.status in (experiment.Status.COMPLETED, experiment.Status.ARCHIVED)
    today = DailyRollup.day_of()
    visitors = [0] * len(ordered)
    for day in rollups.days():
        if day >= today and not finished:
            break
        for index, variant in enumerate(ordered):
            visitors[index] += rollups.total(EXPOSURES, variant.pk, day=day)[0]
        days_running = _days_through(experiment, rollups, day)
        if min(visitors) < needed or days_running < rule.minimum_days:
            continue  # cheaply not yet: no figures needed
        figures = _primary_figures(experiment, ordered, rollups, rule, tuning, day)
        if verdicts.fixed_look_due(figures, rule, days_running=days_running,
                                   visitors_needed=needed):
            return day
    return None


def _primary_figures(experiment, ordered, rollups, rule, tuning, through=None):
    """``stats.analyze``'s figures of the primary goal, with each variant's key."""
    analysis = _analyze(_counts(rollups, ordered, experiment.primary_goal, through), rule,
                        tuning, weights=[float(v.weight) for v in ordered],
                        higher_is_better=rule.higher_is_better)
    return [{"key": variant.key, **row}
            for variant, row in zip(ordered, analysis["variants"], strict=True)]


def _outcome(experiment):
    """How a finished experiment ended (None while it is not finished): what visitors get
    now matters more to a reader than which variant the numbers lean to."""
    if experiment.status not in (experiment.Status.COMPLETED, experiment.Status.ARCHIVED):
        return None
    return {
        "completed_at": _iso(experiment.completed_at),
        "winner": experiment.winner.key if experiment.winner_id else None,
        "promotion_mode": experiment.promotion_mode or None,
        "promoted_at": _iso(experiment.promoted_at),
        "winner_served": bool(experiment.serve_winner),
        "summary": str(experiment.outcome_summary()),
    }


def _iso(moment):
    return moment.isoformat() if moment else None


def _daily(variants, goal, rollups, alpha):
    """Per variant and day: visitors, conversions, and the cumulative conversion rate with
    its Wilson interval (at the experiment's alpha: the band around the chart's line)."""
    series = []
    for variant in variants:
        cumulative_visitors = cumulative_conversions = 0
        points = []
        for day in rollups.days():
            visitors = rollups.total(EXPOSURES, variant.pk, day=day)[0]
            conversions = rollups.total(goal, variant.pk, day=day)[0]
            cumulative_visitors += visitors
            cumulative_conversions += conversions
            low, high = stats.wilson_interval(
                cumulative_visitors, min(cumulative_conversions, cumulative_visitors), alpha)
            points.append({
                "day": day.isoformat(),
                "visitors": visitors,
                "conversions": conversions,
                "cumulative_conversion_rate": (
                    cumulative_conversions / cumulative_visitors if cumulative_visitors else 0.0
                ),
                "cumulative_ci_low": low,
                "cumulative_ci_high": high,
            })
        series.append({"key": variant.key, "points": points})
    return series




def _utm_breakdown(variants, goal, rollups):
    """Visitors, conversions and value per landing ``utm_source``, overall and per variant;
    the source ``""`` gathers visitors who landed without one."""

    def counts(source, variant_id=None):
        conversions, _, value = rollups.total(goal, variant_id, utm_source=source)
        return {
            "visitors": rollups.total(EXPOSURES, variant_id, utm_source=source)[0],
            "conversions": conversions,
            "conversion_value": value,
        }

    return [
        {
            "utm_source": source,
            **counts(source),
            "variants": [{"key": v.key, **counts(source, v.pk)} for v in variants],
        }
        for source in rollups.sources()
    ]


# What the events API accepts as ``metadata.time_spent_ms`` (a plain, bounded, non-negative
# number), as text. Rows stored before it checked, or written by other code, may hold
# anything ("abc", 1e400, true): they are left out of the mean rather than breaking the cast.
_PLAIN_TIME_SPENT = r"^[0-9]{1,12}(\.[0-9]{1,9})?$"


def _stored_time_spent():
    return Case(
        When(metadata__time_spent_ms__regex=_PLAIN_TIME_SPENT,
             then=Cast(KT("metadata__time_spent_ms"), FloatField())),
        default=None,
        output_field=FloatField(),
    )


def _funnel(experiment, variants, goal, since, until):
    """Visitors reaching each ``step`` of ``goal``'s events, per variant, with the drop-off
    from the previous step and the mean ``metadata.time_spent_ms`` where events carry it."""
    events = Event.objects.filter(experiment=experiment, goal=goal, step__isnull=False)
    # Days as the rollups count them, in the site's time zone, whoever looks.
    if since:
        events = events.filter(created_at__gte=_midnight(since))
    if until:
        events = events.filter(created_at__lt=_midnight(until + timedelta(days=1)))
    rows = (
        events.values_list("variant_id", "step")
        .annotate(
            visitors=Count("visitor_id", distinct=True),
            time_spent=Avg(_stored_time_spent()),
        )
        .order_by()
    )
    by_variant = defaultdict(dict)
    for variant_id, step, visitors, time_spent in rows:
        by_variant[variant_id][step] = (visitors, time_spent)
    steps = sorted({step for per_step in by_variant.values() for step in per_step})
    funnel = []
    for variant in variants:
        previous = None
        points = []
        for step in steps:
            visitors, time_spent = by_variant[variant.pk].get(step, (0, None))
            points.append({
                "step": step,
                "visitors": visitors,
                "drop_off": (1 - visitors / previous) if previous else None,
                "mean_time_spent_ms": time_spent,
            })
            previous = visitors
        funnel.append({"key": variant.key, "steps": points})
    return {"steps": steps, "variants": funnel} if steps else {"steps": [], "variants": []}


# How far ahead the planning panel says what the experiment can detect.
FORECAST_DAYS = (7, 14, 28)


def _recent_days(experiment, rollups):
    """The full days of the last ``RECENT_DAYS`` the experiment ran (today only while it
    has no full day yet): the traffic forecasts extrapolate from."""
    today = DailyRollup.day_of()
    first = today - timedelta(days=RECENT_DAYS)
    start = _start_day(experiment, rollups)
    if start is not None and start > first:
        first = start
    days = [first + timedelta(days=n) for n in range((today - first).days)]
    return days or [today]


def _midnight(day):
    return datetime.combine(day, time.min, tzinfo=get_default_timezone())


def _days_to_minimum_conversions(experiment, ordered, rollups, rule, figures, recent,
                                 baseline):
    """Days until every arm the verdict waits on (``verdicts.awaited_arms``) has its minimum
    of conversions: the slowest arm's, each at its conversions of the recent days (or, with
    none lately, of the whole experiment; before any, its recent visitors times
    ``baseline``). ``figures``: the primary goal's, on all the data. 0 once they all have;
    None if some arm can be expected never to."""
    awaited = verdicts.awaited_arms(figures, rule) if len(figures) > 1 else range(len(figures))
    days_running = max(_days_running(experiment, rollups), 1)
    slowest = 0
    for index in awaited:
        variant, conversions = ordered[index], figures[index].get("conversions") or 0
        if conversions >= rule.minimum_conversions:
            continue
        recent_conversions = sum(rollups.total(experiment.primary_goal, variant.pk, day=day)[0]
                                 for day in recent)
        if recent_conversions:
            per_day = recent_conversions / len(recent)
        elif conversions:
            per_day = conversions / days_running
        else:
            per_day = baseline * sum(rollups.total(EXPOSURES, variant.pk, day=day)[0]
                                     for day in recent) / len(recent)
        if per_day <= 0:
            return None
        slowest = max(slowest, math.ceil((rule.minimum_conversions - conversions) / per_day))
    return slowest


def _planning(experiment, ordered, rollups, rule, tuning, figures):
    """The planned sample for the experiment's method (and the fixed-horizon figure, for
    comparison), progress, days remaining at the last week's traffic, and the smallest lift
    the experiment can detect now and in ``FORECAST_DAYS`` days."""
    arms = max(len(ordered), 2)
    needed = experiment.planned_sample(arms=arms)
    counts = _counts(rollups, ordered, experiment.primary_goal)
    control_visitors, control_conversions = counts[0] if counts else (0, 0)
    observed = control_conversions / control_visitors if control_visitors else 0.0
    planned_baseline = float(experiment.baseline_rate) / 100
    # Forecasts use what the control really converts at, once that is more than noise.
    enough = control_conversions >= max(rule.minimum_conversions, 1) and observed < 1
    forecast_baseline = observed if enough else planned_baseline
    smallest_arm = min((visitors for visitors, _ in counts), default=0)
    recent = _recent_days(experiment, rollups)
    recent_visitors = min(
        (sum(rollups.total(EXPOSURES, v.pk, day=day)[0] for day in recent) for v in ordered),
        default=0,
    )
    daily_rate = recent_visitors / len(recent)
    days_remaining = None
    to_conversions = _days_to_minimum_conversions(
        experiment, ordered, rollups, rule, figures, recent, forecast_baseline)
    if daily_rate > 0 and needed is not None and to_conversions is not None:
        days_remaining = max(
            math.ceil((needed - smallest_arm) / daily_rate) if needed else 0,
            rule.minimum_days - _days_running(experiment, rollups),
            to_conversions,
            0,
        )

    def detectable(visitors):
        if visitors <= 0:
            return None
        return stats.detectable_effect(
            forecast_baseline, visitors, rule.alpha, float(experiment.power) / 100,
            method=rule.method, variants=arms, sequential_tuning=tuning,
            higher_is_better=rule.higher_is_better,
        )

    today = DailyRollup.day_of()
    return {
        "method": rule.method,
        "baseline_rate": planned_baseline,
        "observed_baseline_rate": observed,
        "minimum_detectable_effect": float(experiment.minimum_detectable_effect) / 100,
        "power": float(experiment.power) / 100,
        "visitors_needed_per_variant": needed,
        "fixed_horizon_visitors_per_variant": experiment.planned_sample("fixed", arms),
        "sequential_tuning": tuning if rule.method == "sequential" else None,
        "minimum_conversions": rule.minimum_conversions,
        "minimum_days": rule.minimum_days,
        "progress": min(smallest_arm / needed, 1.0) if needed else 0.0,
        "reached": bool(needed) and smallest_arm >= needed,
        "recent_daily_visitors_per_variant": daily_rate,
        "days_remaining": days_remaining,
        "detectable_effect": detectable(smallest_arm),
        "detectable_effect_by": [
            {
                "days": ahead,
                "date": (today + timedelta(days=ahead)).isoformat(),
                "visitors_per_variant": math.floor(smallest_arm + daily_rate * ahead),
                "lift": detectable(math.floor(smallest_arm + daily_rate * ahead)),
            }
            for ahead in FORECAST_DAYS
        ] if daily_rate > 0 else [],
    }
