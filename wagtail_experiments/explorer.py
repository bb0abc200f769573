"""What the page explorer tells editors about pages under test: a status tag on each page
that is the control or a variant of an experiment that serves it, linking to the
experiment."""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext as _

from .compat import get_permission_policy

_CACHE_ATTRIBUTE = "_wagtail_experiments_page_roles"


@dataclass(frozen=True)
class PageRole:
    label: str
    url: str | None


def page_roles(request, page):
    """The experiment roles of ``page``; one query per request, whatever the listing's
    length."""
    roles = getattr(request, _CACHE_ATTRIBUTE, None)
    if roles is None:
        roles = _roles_by_page(request.user)
        setattr(request, _CACHE_ATTRIBUTE, roles)
    return roles.get(page.pk, [])


def _roles_by_page(user):
    from django.db.models import F, Q

    from .models import Experiment, Variant

    policy = get_permission_policy(Experiment)
    link = (
        "experiments:edit" if policy.user_has_permission(user, "change")
        else "experiments:results" if policy.user_has_permission(user, "view")
        else None
    )
    variants = (
        Variant.objects.filter(
            Q(experiment__status__in=Experiment.SERVING_STATUSES)
            | Q(experiment__serve_winner=True, experiment__winner_id=F("pk")),
            page__isnull=False,
        )
        .select_related("experiment")
        .order_by("experiment__name", "sort_order")
    )
    roles = {}
    for variant in variants:
        experiment = variant.experiment
        names = {"name": experiment.name, "key": variant.key}
        if experiment.status == Experiment.Status.COMPLETED:
            label = _("Winner of “%(name)s”, served at its URL") % names
        elif variant.is_control:
            label = _("Control of “%(name)s”") % names
        else:
            label = _("Variant %(key)s of “%(name)s”") % names
        if experiment.status in (Experiment.Status.SCHEDULED, Experiment.Status.PAUSED):
            label = f"{label} ({experiment.get_status_display().lower()})"
        url = reverse(link, args=[experiment.pk]) if link else None
        roles.setdefault(variant.page_id, []).append(PageRole(label, url))
    return roles
