"""The results screen of one experiment: the figures of ``experiment_results``, rendered."""

import csv
from urllib.parse import urlencode

from django import forms
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView
from wagtail.admin.widgets import AdminDateInput
from wagtail.admin.widgets.button import Button, HeaderButton

from .. import charts
from ..compat import PermissionCheckedMixin, get_permission_policy
from ..models import DailyRollup, Experiment
from ..results import experiment_results
from ..text import for_spreadsheet
from .base import ExperimentScreenMixin
from .lifecycle import ACTIONS

REFRESH_SECONDS = 60
# Goals with data but no longer declared, offered after the declared ones (before goals
# were declared, anybody could record any name: a long tail is noise).
MAX_UNDECLARED_GOALS = 20


class ResultsFilterForm(forms.Form):
    goal = forms.ChoiceField(label=_("Goal"), required=False)
    since = forms.DateField(label=_("From"), required=False, widget=AdminDateInput)
    until = forms.DateField(label=_("To"), required=False, widget=AdminDateInput)

    def __init__(self, *args, experiment, **kwargs):
        super().__init__(*args, **kwargs)
        # The declared goals, the primary one first (only they are recorded now), then
        # goals recorded before they were declared or since removed, whose data remains.
        declared = experiment.goals.values_list("name", flat=True)
        recorded = (
            DailyRollup.objects.filter(experiment=experiment)
            .exclude(goal=DailyRollup.EXPOSURES)
            .exclude(goal__in=[experiment.primary_goal, *declared])
            .values_list("goal", flat=True)
            .distinct()
            .order_by("goal")[:MAX_UNDECLARED_GOALS]
        )
        goals = dict.fromkeys([experiment.primary_goal, *declared, *recorded])
        self.fields["goal"].choices = [(goal, goal) for goal in goals]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError(_("The start of the range must come before its end."))
        return data


class ExperimentResultsView(PermissionCheckedMixin, ExperimentScreenMixin, TemplateView):
    model = Experiment
    permission_required = "view"
    template_name = "wagtail_experiments/admin/results.html"

    @cached_property
    def header_buttons(self):
        """Edit, and the lifecycle action most likely next (start, pause, resume,
        promote…): few enough to fit a phone's header."""
        return [HeaderButton(**action) for action in self._actions[:2]]

    @cached_property
    def header_more_buttons(self):
        """The other lifecycle actions open to the experiment, in Wagtail's dropdown."""
        return [Button(**action) for action in self._actions[2:]]

    @cached_property
    def _actions(self):
        """What the user may do next, from the results themselves (each a button's
        arguments): edit, then the lifecycle actions open to the experiment, most likely
        first."""
        if not get_permission_policy(Experiment).user_has_permission(self.request.user,
                                                                     "change"):
            return []
        pk = self.object.pk
        here = reverse("experiments:results", args=[pk])

        def back_here(name):
            # A lifecycle step taken from the results returns to them.
            return f"{reverse(name, args=[pk])}?{urlencode({'next': here})}"

        return [
            {"label": _("Edit"), "url": reverse("experiments:edit", args=[pk]),
             "icon_name": "edit", "priority": 10},
            *({"label": ACTIONS[action][0], "url": back_here(f"experiments:{action}"),
               "icon_name": "tasks", "priority": 20 + index}
              for index, action in enumerate(self.object.lifecycle_actions())),
        ]

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.object = get_object_or_404(Experiment, pk=kwargs["pk"])

    def get_page_title(self):
        return _("Results: %(name)s") % {"name": self.object.name}

    def get(self, request, *args, **kwargs):
        data = None
        if request.GET:
            # The selector shows the goal the figures are for: the primary one unless
            # another is chosen.
            data = request.GET.copy()
            data.setdefault("goal", self.object.primary_goal)
        form = ResultsFilterForm(data, experiment=self.object,
                                 initial={"goal": self.object.primary_goal})
        valid = form.is_bound and form.is_valid()
        # A bad date must not silently switch the figures to another goal than the one the
        # selector shows: a valid goal applies on its own; the dates only as a valid range.
        filters = getattr(form, "cleaned_data", {}) if form.is_bound else {}
        results = experiment_results(
            self.object,
            goal=filters.get("goal") or None,
            since=filters.get("since") if valid else None,
            until=filters.get("until") if valid else None,
        )
        if request.GET.get("export") == "csv":
            return results_csv(self.object, results)
        context = self.get_context_data(form=form, results=results, **_display(results))
        if request.GET.get("fragment"):
            # The periodic refresh swaps in the figures only, not the whole page.
            return HttpResponse(
                render_to_string("wagtail_experiments/admin/results_figures.html", context,
                                 request=request)
            )
        return self.render_to_response(context)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            experiment=self.object,
            refresh_seconds=REFRESH_SECONDS if self.object.status == "running" else None,
            previews=self.previews(),
            **kwargs,
        )

    def previews(self):
        """(variant key, URL) of each variant page's preview, as it is served: its pinned
        revision, else its latest one."""
        previews = []
        for variant in self.object.ordered_variants():
            revision_id = variant.revision_id or (variant.page and variant.page.latest_revision_id)
            if variant.page_id and revision_id:
                previews.append((variant.key, reverse(
                    "wagtailadmin_pages:revisions_view", args=[variant.page_id, revision_id]
                )))
        return previews


def _display(results):
    """Chart markup and derived flags the template shows as they are."""
    primary = results["goal"] == results["primary_goal"]
    return {
        "conversion_chart": mark_safe(charts.responsive(
            charts.line_chart,
            results["daily"], value="cumulative_conversion_rate", percent=True,
            band=("cumulative_ci_low", "cumulative_ci_high"),
            title=str(_("Cumulative conversion rate per variant")),
        )),
        "visitors_chart": mark_safe(charts.responsive(
            charts.line_chart,
            results["daily"], value="visitors", title=str(_("Visitors per day per variant")),
        )),
        "legend": charts.legend(results["daily"]),
        # Coloured by the verdict only when the figures are the primary goal's.
        "lift_chart": mark_safe(charts.responsive(
            charts.lift_chart,
            results["variants"],
            winner=results["verdict"]["winner"] if primary else None,
            losers=results["verdict"]["losers"] if primary else (),
            title=str(_("Lift over the control, with its interval")),
        )) if any(v.get("lift") is not None for v in results["variants"][1:]) else "",
        "challengers": [v for v in results["variants"] if not v["is_control"]],
        "utm_chart": mark_safe(charts.responsive(
            charts.grouped_bars,
            [{"label": row["utm_source"] or str(_("(none)")),
              "bars": [{"key": cell["key"], "value": _share(cell["conversions"],
                                                            cell["visitors"])}
                       for cell in row["variants"]]}
             for row in results["utm_sources"]],
            title=str(_("Conversion rate per UTM source and variant")),
        )) if results["utm_sources"] else "",
        "funnel_chart": mark_safe(charts.responsive(
            charts.grouped_bars,
            [{"label": str(_("Step %(step)s") % {"step": step}),
              "bars": [{"key": line["key"], "value": _share(
                  line["steps"][index]["visitors"], line["steps"][0]["visitors"])}
                       for line in results["funnel"]["variants"]]}
             for index, step in enumerate(results["funnel"]["steps"])],
            title=str(_("Share of each variant's first-step visitors reaching each step")),
        )) if results["funnel"]["steps"] else "",
    }


def _share(part, whole):
    return part / whole if whole else None


def results_csv(experiment, results):
    """Everything the screen shows, for spreadsheets, in sections: the verdict, the variant
    table, every goal (with revenue per visitor), UTM sources, the funnel and the daily
    series with its interval. Visitor-supplied text (UTM sources) is defused."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{experiment.slug}-results.csv"'
    writer = csv.writer(response)

    def row(*cells):
        writer.writerow(["" if cell is None else for_spreadsheet(cell, csv=True)
                         for cell in cells])

    def section(title, columns, rows):
        row(title)
        row(*columns)
        for cells in rows:
            row(*cells)
        row()

    verdict = results["verdict"]
    section("verdict", ["reason", "winner", "leader", "losers", "frozen_on"], [[
        verdict["reason"], verdict["winner"], verdict["leader"], " ".join(verdict["losers"]),
        verdict.get("frozen_on")]])
    columns = ["key", "is_control", "weight", "visitors", "conversions", "conversion_rate",
               "ci_low", "ci_high", "lift", "lift_ci_low", "lift_ci_high", "p_value",
               "p_value_adjusted", "chance_to_beat_control", "expected_loss",
               "conversion_value"]
    row("variant table", f"goal={results['goal']}", f"method={results['method']}")
    row(*columns)
    for variant in results["variants"]:
        row(*(variant.get(c) for c in columns))
    row()
    rate = ["visitors", "conversions", "conversion_rate", "ci_low", "ci_high", "lift",
            "lift_ci_low", "lift_ci_high", "p_value", "p_value_adjusted", "outcome"]
    revenue = ["mean", "ci_low", "ci_high", "difference", "difference_ci_low",
               "difference_ci_high", "lift", "lift_ci_low", "lift_ci_high", "p_value",
               "p_value_adjusted", "outcome"]
    section(
        "goals",
        ["goal", "role", "kind", "key", *rate, *(f"per_visitor_{c}" for c in revenue)],
        [[goal["name"], goal["role"], goal["kind"], variant["key"],
          *(variant.get(c) for c in rate),
          *((revenue_row or {}).get(c) for c in revenue)]
         for goal in results["goals"]
         for variant, revenue_row in zip(
             goal["variants"],
             (goal["revenue"] or {}).get("variants") or [None] * len(goal["variants"]),
             strict=True)],
    )
    section(
        "utm sources", ["utm_source", "key", "visitors", "conversions", "conversion_value"],
        [[source["utm_source"], cell["key"], cell["visitors"], cell["conversions"],
          cell["conversion_value"]]
         for source in results["utm_sources"] for cell in source["variants"]],
    )
    section(
        "funnel", ["key", "step", "visitors", "drop_off", "mean_time_spent_ms"],
        [[line["key"], cell["step"], cell["visitors"], cell["drop_off"],
          cell["mean_time_spent_ms"]]
         for line in results["funnel"]["variants"] for cell in line["steps"]],
    )
    row("daily series")
    row("key", "day", "visitors", "conversions", "cumulative_conversion_rate",
        "cumulative_ci_low", "cumulative_ci_high")
    for line in results["daily"]:
        for point in line["points"]:
            row(line["key"], point["day"], point["visitors"], point["conversions"],
                point["cumulative_conversion_rate"], point.get("cumulative_ci_low"),
                point.get("cumulative_ci_high"))
    return response
