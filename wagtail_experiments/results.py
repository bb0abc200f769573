"""The one function that turns stored data into an experiment's results.

Every screen, command and API endpoint calls ``experiment_results``; none of them queries
exposures or events itself. It reads only the daily rollups, never raw rows, so its cost
does not grow with traffic.
"""

from django.db.models import Sum

from .models import DailyRollup

EXPOSURES = DailyRollup.EXPOSURES


def experiment_results(experiment, goal=None):
    """Per-variant visitors and conversions (control first) for ``goal``.

    ``goal`` defaults to the experiment's primary goal. ``visitors`` are unique exposed
    visitors; ``conversions`` unique visitors who reached the goal (once each),
    ``conversion_value`` the sum of those events' values. ``goals`` has the same counts for
    every goal recorded, and ``utm_sources`` breaks them down by landing ``utm_source``.
    """
    goal = goal or experiment.primary_goal
    totals = {}  # (variant id, goal, utm source) -> (visitors, events, value)
    rows = (
        DailyRollup.objects.filter(experiment=experiment)
        .values_list("variant_id", "goal", "utm_source")
        .annotate(Sum("visitors"), Sum("events"), Sum("value_sum"))
        .order_by()
    )
    for variant_id, row_goal, utm_source, visitors, events, value in rows:
        totals[variant_id, row_goal, utm_source] = (visitors, events, value)

    ordered = experiment.ordered_variants()
    variants = [_variant_results(variant, goal, totals) for variant in ordered]
    return {
        "experiment": experiment.slug,
        "name": experiment.name,
        "status": experiment.status,
        "goal": goal,
        "visitors": sum(variant["visitors"] for variant in variants),
        "conversions": sum(variant["conversions"] for variant in variants),
        "variants": variants,
        "utm_sources": _utm_breakdown(ordered, goal, totals),
    }


def _sum(totals, *, variant_id=None, goal, utm_source=None):
    visitors = events = value = 0
    for (row_variant, row_goal, row_source), (v, e, val) in totals.items():
        if row_goal != goal:
            continue
        if variant_id is not None and row_variant != variant_id:
            continue
        if utm_source is not None and row_source != utm_source:
            continue
        visitors, events, value = visitors + v, events + e, value + val
    return visitors, events, value


def _variant_results(variant, goal, totals):
    visitors = _sum(totals, variant_id=variant.pk, goal=EXPOSURES)[0]
    conversions, events, value = _sum(totals, variant_id=variant.pk, goal=goal)
    goal_names = sorted({g for (v, g, _), _ in totals.items() if v == variant.pk and g})
    return {
        "key": variant.key,
        "label": variant.label or variant.key,
        "is_control": variant.is_control,
        "weight": float(variant.weight),
        "page_id": variant.page_id,
        "visitors": visitors,
        "conversions": conversions,
        "conversion_events": events,
        "conversion_value": value,
        "goals": {
            name: dict(
                zip(
                    ("conversions", "events", "value"),
                    _sum(totals, variant_id=variant.pk, goal=name),
                    strict=True,
                )
            )
            for name in goal_names
        },
    }


def _utm_breakdown(variants, goal, totals):
    """Visitors, conversions and value per landing ``utm_source``, overall and per variant;
    the source ``""`` gathers visitors who landed without one."""
    sources = sorted({source for (_, g, source) in totals if g == EXPOSURES})
    return [
        {
            "utm_source": source,
            **_source_counts(totals, goal, source),
            "variants": [
                {"key": variant.key, **_source_counts(totals, goal, source, variant.pk)}
                for variant in variants
            ],
        }
        for source in sources
    ]


def _source_counts(totals, goal, source, variant_id=None):
    conversions, _, value = _sum(totals, variant_id=variant_id, goal=goal, utm_source=source)
    return {
        "visitors": _sum(totals, variant_id=variant_id, goal=EXPOSURES, utm_source=source)[0],
        "conversions": conversions,
        "conversion_value": value,
    }
