"""Formatting of statistical figures in the admin."""

from django import template
from django.utils.translation import gettext as _

register = template.Library()

NOT_AVAILABLE = "—"


@register.filter
def percent(value, digits=1):
    """0.1234 → "12.3 %"; None (undefined) → "—"."""
    if value is None:
        return NOT_AVAILABLE
    return f"{value * 100:.{int(digits)}f} %"


@register.filter
def signed_percent(value):
    if value is None:
        return NOT_AVAILABLE
    return f"{value * 100:+.1f} %"


@register.filter
def p_value(value):
    if value is None:
        return NOT_AVAILABLE
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


@register.filter
def verdict_reason(reason):
    return {
        "srm": _("Sample ratio mismatch: the traffic split is off, so no result can be trusted."),
        "sample_size_not_reached": _("Significant, but the planned sample size is not reached "
                                     "yet (fixed-horizon method)."),
        "not_significant": _("No variant is significantly better than the control yet."),
    }.get(reason, "")


@register.inclusion_tag("wagtail_experiments/admin/experiment_roles.html", takes_context=True)
def experiment_roles(context, page):
    """Status tags for ``page``'s roles in experiments (the page explorer)."""
    from ..explorer import page_roles

    request = context.get("request")
    return {"roles": page_roles(request, page) if request is not None else []}
