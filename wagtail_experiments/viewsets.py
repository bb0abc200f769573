"""Admin screens: experiments (managed), and what tracking recorded (read-only)."""

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery, Sum
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.ui.menus import MenuItem
from wagtail.admin.ui.tables import Column
from wagtail.admin.views.generic import models as generic
from wagtail.admin.viewsets.base import ViewSetGroup
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets.button import Button

from .compat import RegisteredPermissionPolicyMixin
from .leads.viewsets import LeadViewSet
from .models import DailyRollup, Event, Experiment, Variant
from .results import experiment_results
from .templatetags.wagtail_experiments_admin import verdict_reason
from .views.base import ViewPermissionIndexView, ViewPermissionInspectView
from .views.lifecycle import ACTIONS, ExperimentActionView
from .views.results import ExperimentResultsView


def leader_summary(experiment):
    """"b (winner)", "b (leading: collecting data)" or "—" for the listing; a finished
    experiment's chosen winner rather than what the numbers lean to."""
    if experiment.status == Experiment.Status.DRAFT:
        return "—"
    if experiment.status in (Experiment.Status.COMPLETED, Experiment.Status.ARCHIVED):
        if experiment.winner_id is None:
            return _("no winner chosen")
        return _("%(key)s (chosen winner)") % {"key": experiment.winner.key}
    verdict = experiment_results(experiment)["verdict"]
    if verdict["reason"] == "srm":
        return _("sample ratio mismatch")
    if verdict["winner"]:
        return _("%(key)s (winner)") % {"key": verdict["winner"]}
    if verdict["leader"]:
        return _("%(key)s (leading: %(reason)s)") % {
            "key": verdict["leader"], "reason": verdict_reason(verdict["reason"])}
    return "—"


class LifecycleButtonsMixin:
    """Lifecycle actions the user may take on an experiment in its current status."""

    def lifecycle_buttons(self, experiment, button_class, priority=100):
        namespace = self.index_url_name.rpartition(":")[0]
        results = button_class(
            _("Results"),
            url=reverse(f"{namespace}:results", args=[experiment.pk]),
            icon_name="view",
            priority=priority - 1,
        )
        if not self.user_has_permission("change"):
            return [results]
        return [results, *[
            button_class(
                ACTIONS[action][0],
                url=reverse(f"{namespace}:{action}", args=[experiment.pk]),
                icon_name="tasks",
                priority=priority + index,
            )
            for index, action in enumerate(experiment.lifecycle_actions())
        ]]


class ExperimentIndexView(LifecycleButtonsMixin, generic.IndexView):
    def get_base_queryset(self):
        exposures = (
            DailyRollup.objects.filter(experiment=OuterRef("pk"), goal=DailyRollup.EXPOSURES)
            .values("experiment")
            .annotate(total=Sum("visitors"))
            .values("total")
        )
        return (
            super()
            .get_base_queryset()
            .select_related("control_page", "winner")
            .annotate(visitor_count=Subquery(exposures))
        )

    def get_list_more_buttons(self, instance):
        return [*super().get_list_more_buttons(instance),
                *self.lifecycle_buttons(instance, MenuItem)]


class ExperimentCreateView(generic.CreateView):
    def save_instance(self):
        """Whoever creates an experiment is told when it needs them (notifications)."""
        self.form.instance.created_by = self.request.user
        return super().save_instance()


class ExperimentEditView(LifecycleButtonsMixin, generic.EditView):
    @cached_property
    def header_more_buttons(self):
        return [*super().header_more_buttons, *self.lifecycle_buttons(self.object, Button)]

    def get_object(self, queryset=None):
        experiment = super().get_object(queryset)
        self.served_pages_before = experiment.served_pages()
        return experiment

    def save_instance(self):
        """Changing the pages of an experiment that serves (or will, or may resume) puts
        other content at the control URL at once: it needs what starting needs. Wagtail
        saves inside a transaction, so a refusal leaves nothing changed."""
        experiment = super().save_instance()
        serves = experiment.status in Experiment.SERVING_STATUSES or experiment.serve_winner
        if serves and experiment.served_pages() != self.served_pages_before:
            experiment.check_user_may_serve(self.request.user)
            # A variant now showing another page serves that page's latest revision.
            experiment.pin_missing_content(self.request.user)
        return experiment

    def form_valid(self, form):
        try:
            return super().form_valid(form)
        except ValidationError as error:
            form.add_error(None, error)
            # What Wagtail 8's validation sets before form_invalid (7.4 ignores it).
            self.produced_error_message = self.get_error_message()
            return self.form_invalid(form)


class ExperimentViewSet(RegisteredPermissionPolicyMixin, ModelViewSet):
    """Create, edit and run experiments. Editing needs the "change experiment" permission;
    listing needs "view"."""

    model = Experiment
    name = "experiments"
    icon = "tasks"
    menu_label = _("Experiments")
    add_to_admin_menu = False
    index_view_class = ExperimentIndexView
    add_view_class = ExperimentCreateView
    edit_view_class = ExperimentEditView
    copy_view_enabled = False
    list_display = [
        "name", "status_summary", "control_page", "days_running", "visitors",
        Column("leader", label=_("Leader"), accessor=leader_summary),
    ]
    list_filter = ["status"]
    search_fields = ["name", "slug"]
    ordering = ["-created_at"]

    def get_urlpatterns(self):
        return [
            *super().get_urlpatterns(),
            path("results/<int:pk>/", ExperimentResultsView.as_view(), name="results"),
            *(
                path(
                    f"{action}/<int:pk>/",
                    ExperimentActionView.as_view(
                        action=action, index_url_name=self.get_url_name("index")
                    ),
                    name=action,
                )
                for action in ACTIONS
            ),
        ]


class EventFilterSet(WagtailFilterSet):
    experiment = django_filters.ModelChoiceFilter(
        queryset=Experiment.objects.all(), label=_("Experiment")
    )
    variant = django_filters.ModelChoiceFilter(
        queryset=Variant.objects.select_related("experiment"), label=_("Variant")
    )
    type = django_filters.ChoiceFilter(choices=Event.Type.choices, label=_("Type"))
    goal = django_filters.CharFilter(label=_("Goal"))
    created_at = django_filters.DateFromToRangeFilter(
        label=_("Received"), widget=DateRangePickerWidget
    )

    class Meta:
        model = Event
        fields = []


class EventViewSet(RegisteredPermissionPolicyMixin, ModelViewSet):
    """Raw events for analysts: a filtered listing and its CSV/XLSX export."""

    model = Event
    index_view_class = ViewPermissionIndexView
    inspect_view_class = ViewPermissionInspectView
    name = "experiment_events"
    url_prefix = "experiments/events"
    icon = "list-ul"
    menu_label = _("Events")
    add_to_admin_menu = False
    inspect_view_enabled = True
    copy_view_enabled = False
    # Never editable (see RecordedDataPermissionPolicy); the form is only declared.
    form_fields = []
    list_display = ["type", "goal", "experiment", "variant", "block_id", "created_at"]
    filterset_class = EventFilterSet
    ordering = ["-created_at"]
    list_export = [
        "created_at", "experiment_slug", "variant_key", "type", "goal", "step", "value", "event_id",
        "visitor_id", "block_id", "url", "metadata", "utm_source", "utm_medium",
        "utm_campaign", "utm_term", "utm_content",
    ]
    export_filename = "experiment-events"

    def get_queryset(self, request):
        return Event.objects.select_related("experiment", "variant")


class ExperimentsMenu(ViewSetGroup):
    menu_label = _("Experiments")
    menu_icon = "tasks"
    menu_order = 250
    items = (ExperimentViewSet, LeadViewSet, EventViewSet)
