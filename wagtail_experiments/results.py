"""The one function that turns stored data into an experiment's results.

Every screen, command and API endpoint calls ``experiment_results``; none of them queries
exposures or events itself. Counts come from the daily rollups (one query, whatever the
traffic); the funnel reads the few step events through a partial index. Every statistical
figure comes from ``stats.analyze`` and ``stats.sample_size``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta

from django.db.models import Avg, Case, Count, FloatField, Sum, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from . import stats
from .conf import get_setting
from .models import DailyRollup, Event
from .rollup_sources import OTHER_SOURCES

EXPOSURES = DailyRollup.EXPOSURES
RECENT_DAYS = 7
POWER = 0.8


class _Rollups:
    """The experiment's rollup rows, indexed once for every sum the results need."""

    def __init__(self, experiment, since=None, until=None):
        rows = DailyRollup.objects.filter(experiment=experiment)
        if since:
            rows = rows.filter(day__gte=since)
        if until:
            rows = rows.filter(day__lte=until)
        self._sums = defaultdict(lambda: [0, 0, 0.0])
        self._goals = defaultdict(set)
        self._days, self._sources = set(), set()
        rows = list(
            rows.values_list("variant_id", "goal", "day", "utm_source")
            .annotate(Sum("visitors"), Sum("events"), Sum("value_sum"))
            .order_by()
        )
        shown = _top_sources(rows, get_setting("RESULTS_MAX_UTM_SOURCES"))
        for variant_id, goal, day, source, visitors, events, value in rows:
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
            self._days.add(day)
            if goal == EXPOSURES:
                self._sources.add(source)
            else:
                self._goals[variant_id].add(goal)

    def total(self, goal, variant_id=None, *, day=None, utm_source=None):
        """(visitors, events, value) of ``goal``, for a variant, a day or a UTM source."""
        if day is not None:
            key = (goal, variant_id, "day", day)
        elif utm_source is not None:
            key = (goal, variant_id, "source", utm_source)
        else:
            key = (goal, variant_id, None, None)
        return tuple(self._sums.get(key, (0, 0, 0.0)))

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
    for _variant_id, goal, _day, source, count, _events, _value in rows:
        if goal == EXPOSURES:
            visitors[source] += count
    ranked = sorted(visitors, key=lambda source: (-visitors[source], source))
    return {"", *ranked[:limit]} if limit else set(visitors) | {""}


def experiment_results(experiment, goal=None, since=None, until=None):
    """Everything known about ``experiment`` on ``goal`` (default: its primary goal),
    optionally limited to the days ``since``..``until`` (dates, inclusive).

    Per variant (control first): visitors (unique, exposed), conversions (unique visitors
    reaching the goal), conversion value and events, every ``stats.analyze`` figure, and the
    counts of every other goal. Then: SRM check, daily series, UTM-source breakdown, funnel
    of ``step`` events, planned sample size with progress and days remaining, and a verdict.
    """
    goal = goal or experiment.primary_goal
    alpha = float(experiment.alpha)
    rollups = _Rollups(experiment, since, until)
    ordered = experiment.ordered_variants()

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

    analysis = stats.analyze(
        [(v["visitors"], v["conversions"]) for v in variants],
        weights=[v["weight"] for v in variants],
        alpha=alpha,
        method=experiment.method,
    ) if len(variants) >= 2 else {"variants": [{} for _ in variants], "srm_p_value": 1.0,
                                  "srm_detected": False}
    for variant, figures in zip(variants, analysis["variants"], strict=True):
        variant.update({k: v for k, v in figures.items() if k not in variant})

    planning = _planning(experiment, ordered, variants, rollups, alpha)
    outcome = _outcome(experiment)
    if outcome is not None or experiment.status == experiment.Status.PAUSED:
        planning["days_remaining"] = None  # no traffic is coming
    return {
        "experiment": experiment.slug,
        "name": experiment.name,
        "status": experiment.status,
        "pause_reason": experiment.pause_reason or None,
        "outcome": outcome,
        "goal": goal,
        "method": experiment.method,
        "alpha": alpha,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "visitors": sum(v["visitors"] for v in variants),
        "conversions": sum(v["conversions"] for v in variants),
        "variants": variants,
        "srm_p_value": analysis["srm_p_value"],
        "srm_detected": analysis["srm_detected"],
        "verdict": _verdict(experiment, variants, analysis, planning, alpha),
        "planning": planning,
        "daily": _daily(ordered, goal, rollups),
        "utm_sources": _utm_breakdown(ordered, goal, rollups),
        "funnel": _funnel(experiment, ordered, goal, since, until),
    }


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


def _daily(variants, goal, rollups):
    """Per variant and day: visitors, conversions, and the cumulative conversion rate."""
    series = []
    for variant in variants:
        cumulative_visitors = cumulative_conversions = 0
        points = []
        for day in rollups.days():
            visitors = rollups.total(EXPOSURES, variant.pk, day=day)[0]
            conversions = rollups.total(goal, variant.pk, day=day)[0]
            cumulative_visitors += visitors
            cumulative_conversions += conversions
            points.append({
                "day": day.isoformat(),
                "visitors": visitors,
                "conversions": conversions,
                "cumulative_conversion_rate": (
                    cumulative_conversions / cumulative_visitors if cumulative_visitors else 0.0
                ),
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
    if since:
        events = events.filter(created_at__date__gte=since)
    if until:
        events = events.filter(created_at__date__lte=until)
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


def _planning(experiment, ordered, variants, rollups, alpha):
    """Visitors needed per variant to detect the minimum detectable effect, progress, and
    days remaining at the last week's traffic."""
    control = variants[0] if variants else {"visitors": 0}
    baseline = control["conversions"] / control["visitors"] if control["visitors"] else 0.0
    mde = float(experiment.minimum_detectable_effect) / 100
    needed = None
    if 0 < baseline < 1 and 0 < baseline * (1 + mde) < 1:
        needed = stats.sample_size(baseline, mde, alpha=alpha, power=POWER)
    smallest_arm = min((v["visitors"] for v in variants), default=0)
    days = rollups.days()
    recent = [day for day in days if days and day > days[-1] - timedelta(days=RECENT_DAYS)]
    recent_visitors = min(
        (sum(rollups.total(EXPOSURES, v.pk, day=day)[0] for day in recent)
         for v in ordered),
        default=0,
    )
    daily_rate = recent_visitors / len(recent) if recent else 0
    days_remaining = None
    if needed is not None and daily_rate > 0:
        days_remaining = max(math.ceil((needed - smallest_arm) / daily_rate), 0)
    return {
        "baseline_rate": baseline,
        "minimum_detectable_effect": mde,
        "power": POWER,
        "visitors_needed_per_variant": needed,
        "progress": min(smallest_arm / needed, 1.0) if needed else 0.0,
        "reached": bool(needed) and smallest_arm >= needed,
        "recent_daily_visitors_per_variant": daily_rate,
        "days_remaining": days_remaining,
    }


def _verdict(experiment, variants, analysis, planning, alpha):
    """The leader (best conversion rate among challengers that beat the control most
    likely) and whether it is a winner: adjusted p-value below alpha, no sample-ratio
    mismatch, and for the fixed method the planned sample size reached."""
    challengers = [v for v in variants if not v["is_control"] and v.get("chance_to_beat_control")]
    # Ties (several variants all but certain to beat the control) go to the larger lift.
    leader = max(
        challengers, key=lambda v: (v["chance_to_beat_control"], v.get("lift") or 0),
        default=None,
    )
    if leader is not None and leader["chance_to_beat_control"] < 0.5:
        leader = variants[0]  # nobody is likely to beat the control
    significant = [
        v for v in variants
        if not v["is_control"] and v.get("p_value_adjusted") is not None
        and v["p_value_adjusted"] < alpha and (v.get("lift") or 0) > 0
    ]
    winner = max(significant, key=lambda v: v["lift"], default=None)
    reason = None
    if analysis["srm_detected"]:
        winner, reason = None, "srm"
    elif winner and experiment.method == "fixed" and not planning["reached"]:
        winner, reason = None, "sample_size_not_reached"
    elif winner is None:
        reason = "not_significant"
    if winner is not None:
        leader = winner
    return {
        "leader": leader["key"] if leader else None,
        "winner": winner["key"] if winner else None,
        "significant": winner is not None,
        "reason": reason,
    }
