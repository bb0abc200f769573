"""The one function that turns stored data into an experiment's results.

Every screen, command and API endpoint calls ``experiment_results``; none of them
queries exposures or events itself.
"""

from django.db.models import Count

from .models import Exposure


def experiment_results(experiment, goal=None):
    """Per-variant counts for ``experiment`` (control first) on ``goal``.

    ``goal`` defaults to the experiment's primary goal. Conversions are counted once goal
    tracking records them; until then every variant reports 0.
    """
    goal = goal or experiment.primary_goal
    visitors_by_variant = dict(
        Exposure.objects.filter(experiment=experiment)
        .values_list("variant_id")
        .annotate(visitors=Count("id"))
        .order_by()
    )
    variants = []
    for variant in experiment.ordered_variants():
        variants.append(
            {
                "key": variant.key,
                "label": variant.label or variant.key,
                "is_control": variant.is_control,
                "weight": float(variant.weight),
                "page_id": variant.page_id,
                "visitors": visitors_by_variant.get(variant.pk, 0),
                "conversions": 0,
            }
        )
    return {
        "experiment": experiment.slug,
        "name": experiment.name,
        "status": experiment.status,
        "goal": goal,
        "visitors": sum(variant["visitors"] for variant in variants),
        "variants": variants,
    }
