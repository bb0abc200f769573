"""Formatting of statistical figures in the admin."""

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

register = template.Library()

NOT_AVAILABLE = "—"
MINUS = "\u2212"  # the typographic minus sign, as the admin's figures use


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
def step_change(drop_off):
    """A funnel step's drop-off from the previous step as "-12 %" (with a minus sign; "+3 %"
    when more reach it); nothing when there is none to speak of (it would read "-0 %")."""
    if drop_off is None or round(abs(drop_off) * 100) == 0:
        return ""
    return f"{MINUS if drop_off > 0 else '+'}{abs(drop_off) * 100:.0f} %"


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
def verdict_sentence(verdict, planning=None):
    """The verdict in a plain sentence: what the numbers support, or what is missing."""
    reason = verdict.get("reason")
    if reason == "collecting_data":
        return _collecting_sentence(verdict, planning)
    if reason == "srm":
        return _("Traffic split is off (sample ratio mismatch): results are not trustworthy "
                 "until it is fixed.")
    if reason == "guardrail_harmed":
        harmed = verdict.get("harmed_guardrails") or {}
        return _("%(variants)s would win on the primary goal, but makes a guardrail goal "
                 "worse (%(goals)s): no winner.") % {
            "variants": _(", ").join(harmed),
            "goals": _(", ").join(sorted({goal for goals in harmed.values() for goal in goals})),
        }
    if reason == "winner":
        sentence = _winner_sentence(verdict)
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


def _winner_sentence(verdict):
    effect = verdict.get("effect") or {}
    key = verdict["winner"]
    chance = effect.get("chance_to_beat_control")
    if verdict.get("rule") == "bayesian" and effect.get("lift") is not None and chance:
        # The Bayesian rule decides by the chance to beat the control, not by the test's
        # interval (which may still include 0): the sentence quotes what decided.
        return _("%(key)s converts %(lift)s better than the control, with a %(chance)s "
                 "chance to beat it and little to lose if it does not: it is the winner "
                 "(Bayesian rule).") % {
            "key": key, "lift": f"{abs(effect['lift']) * 100:.0f} %",
            "chance": f"{chance * 100:.0f} %"}
    if effect.get("lift") is not None and effect.get("lift_ci_low") is not None:
        sentence = _("%(key)s converts %(lift)s better than the control (likely between "
                     "%(low)s and %(high)s): it is the winner.") % {
            "key": key,
            "lift": f"{abs(effect['lift']) * 100:.0f} %",
            "low": interval_percent(effect["lift_ci_low"]),
            "high": interval_percent(effect["lift_ci_high"]),
        }
    else:
        sentence = _("%(key)s is significantly better than the control: it is the winner.") % {
            "key": key}
    if verdict.get("rule") == "bayesian":
        sentence += " " + _("(Bayesian rule: likely enough to beat the control, and cheap "
                            "if it does not.)")
    return sentence


def _collecting_sentence(verdict, planning):
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
    sentence = _("Collecting data: no verdict before %(missing)s.") % {
        "missing": _(", ").join(missing)} if missing else _("Collecting data.")
    if planning and planning.get("visitors_needed_per_variant"):
        sentence = _("Too early: %(progress)s of the planned visitors.") % {
            "progress": percent(planning.get("progress") or 0, 0)} + " " + sentence
    return sentence


@register.inclusion_tag("wagtail_experiments/admin/experiment_roles.html", takes_context=True)
def experiment_roles(context, page):
    """Status tags for ``page``'s roles in experiments (the page explorer)."""
    from ..explorer import page_roles

    request = context.get("request")
    return {"roles": page_roles(request, page) if request is not None else []}
