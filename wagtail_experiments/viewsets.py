"""Admin screens for what tracking recorded (read-only)."""

import django_filters
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.viewsets.base import ViewSetGroup
from wagtail.admin.viewsets.model import ModelViewSet

from .leads.viewsets import LeadViewSet
from .models import Event, Experiment, Variant


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


class EventViewSet(ModelViewSet):
    """Raw events for analysts: a filtered listing and its CSV/XLSX export."""

    model = Event
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
    items = (LeadViewSet, EventViewSet)
