"""Formatting of statistical figures in the admin."""

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

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


# An interval's upper end past +1,000 % says only "could be much better": early sequential
# intervals reach millions of percent, which reads as a bug, not as uncertainty.
LARGEST_SHOWN_LIFT = 10.0


@register.filter
def interval_percent(value):
    """An interval end as signed_percent, with ends past +1,000 % shown as "> +1,000 %"."""
    if value is not None and value > LARGEST_SHOWN_LIFT:
        return f"> {LARGEST_SHOWN_LIFT * 100:+,.0f} %"
    return signed_percent(value)


@register.filter
def p_value(value):
    if value is None:
        return NOT_AVAILABLE
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


@register.filter
def verdict_reason(reason):
    """A short phrase for a verdict reason (listings and the dashboard)."""
    return {
        "collecting_data": _("collecting data"),
        "srm": _("sample ratio mismatch"),
        "guardrail_harmed": _("a guardrail goal is harmed"),
        "not_significant": _("not significant yet"),
        "winner": _("winner"),
        "loser": _("every variant is worse"),
    }.get(reason, "")


@register.simple_tag
def verdict_sentence(verdict):
    """The verdict in a plain sentence: what the numbers support, or what is missing."""
    reason = verdict.get("reason")
    if reason == "collecting_data":
        waiting = verdict.get("waiting_for") or {}
        missing = []
        if "conversions" in waiting:
            missing.append(ngettext(
                "%(count)s more conversion in the variant with the fewest",
                "%(count)s more conversions in the variant with the fewest",
                waiting["conversions"]) % {"count": waiting["conversions"]})
        if "days" in waiting:
            missing.append(ngettext(
                "%(count)s more day of the minimum duration",
                "%(count)s more days of the minimum duration",
                waiting["days"]) % {"count": waiting["days"]})
        if waiting.get("sample"):
            missing.append(_("the planned sample size, at the end of a day (a fixed-horizon "
                             "test is judged once, then)"))
        if verdict.get("stopped_early"):
            if not missing:
                return _("It stopped before a verdict could be taken: no verdict.")
            return _("It stopped before a verdict could be taken (it lacked %(missing)s): "
                     "no verdict.") % {"missing": _(", ").join(missing)}
        if not missing:
            return _("Collecting data.")
        return _("Collecting data: no verdict before %(missing)s.") % {
            "missing": _(", ").join(missing)}
    if reason == "srm":
        return _("Sample ratio mismatch: the traffic split is off, so no result can be "
                 "trusted.")
    if reason == "guardrail_harmed":
        harmed = verdict.get("harmed_guardrails") or {}
        return _("%(variants)s would win on the primary goal, but makes a guardrail goal "
                 "worse (%(goals)s): no winner.") % {
            "variants": _(", ").join(harmed),
            "goals": _(", ").join(sorted({goal for goals in harmed.values() for goal in goals})),
        }
    if reason == "winner":
        if verdict.get("rule") == "bayesian":
            sentence = _("%(key)s is likely enough to beat the control, and costs little "
                         "if it does not (Bayesian rule).") % {"key": verdict["winner"]}
        else:
            sentence = _("%(key)s is significantly better than the control.") % {
                "key": verdict["winner"]}
    elif reason == "loser":
        sentence = _("Every variant does worse than the control: keep the control.")
    elif reason == "not_significant":
        sentence = _("The data cannot tell the variants from the control yet.")
    else:
        return ""
    if verdict.get("frozen_on"):
        sentence += " " + _("Fixed horizon: judged once, on the data up to %(date)s; later "
                            "data is shown but does not change it.") % {
            "date": verdict["frozen_on"]}
    return sentence


@register.inclusion_tag("wagtail_experiments/admin/experiment_roles.html", takes_context=True)
def experiment_roles(context, page):
    """Status tags for ``page``'s roles in experiments (the page explorer)."""
    from ..explorer import page_roles

    request = context.get("request")
    return {"roles": page_roles(request, page) if request is not None else []}
