"""Admin screens for lead forms (a snippet) and leads (personal data: read and export)."""

import django_filters
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.snippets.views.snippets import SnippetViewSet

from ..compat import RegisteredPermissionPolicyMixin
from ..models import Experiment, Variant
from ..views.base import ViewPermissionIndexView, ViewPermissionInspectView
from .models import Lead, LeadForm


class LeadFormViewSet(SnippetViewSet):
    model = LeadForm
    icon = "form"
    menu_label = _("Lead forms")
    list_display = ["name", "slug", "goal"]
    search_fields = ["name", "slug"]


class LeadFilterSet(WagtailFilterSet):
    form = django_filters.ModelChoiceFilter(queryset=LeadForm.objects.all(), label=_("Form"))
    experiment = django_filters.ModelChoiceFilter(
        field_name="variants__experiment",
        queryset=Experiment.objects.all(),
        label=_("Experiment"),
        distinct=True,
    )
    variant = django_filters.ModelChoiceFilter(
        field_name="variants",
        queryset=Variant.objects.select_related("experiment"),
        label=_("Variant"),
    )
    utm_source = django_filters.CharFilter(lookup_expr="iexact", label=_("UTM source"))
    created_at = django_filters.DateFromToRangeFilter(
        label=_("Submitted"), widget=DateRangePickerWidget
    )

    class Meta:
        model = Lead
        fields = []


class LeadInspectView(ViewPermissionInspectView):
    """A lead as a person reads it: the submitted fields under their form labels, and one
    mark for every empty value."""

    EMPTY = "—"

    def get_field_display_value(self, field_name, field):
        value = super().get_field_display_value(field_name, field)
        return self.EMPTY if value in (None, "", "-", "None") else value

    def get_data_display_value(self):
        data = self.object.data if isinstance(self.object.data, dict) else {}
        if not data:
            return self.EMPTY if not self.object.data else str(self.object.data)
        form = self.object.form
        labels = {field.clean_name: field.label for field in form.fields.all()} if form else {}
        return format_html(
            "<dl>{}</dl>",
            format_html_join("", "<dt>{}</dt><dd>{}</dd>", (
                (labels.get(name, name), _display(value)) for name, value in data.items()
            )),
        )


def _display(value):
    if isinstance(value, list):
        value = ", ".join(str(item) for item in value)
    return LeadInspectView.EMPTY if value in (None, "") else str(value)


class LeadViewSet(RegisteredPermissionPolicyMixin, ModelViewSet):
    """Personal data: listed, inspected, exported and deleted only with the matching
    permissions; never created or edited in the admin."""

    model = Lead
    index_view_class = ViewPermissionIndexView
    inspect_view_class = LeadInspectView
    name = "experiment_leads"
    url_prefix = "experiments/leads"
    icon = "mail"
    menu_label = _("Leads")
    add_to_admin_menu = False
    inspect_view_enabled = True
    copy_view_enabled = False
    # Never editable (see RecordedDataPermissionPolicy); the form is only declared.
    form_fields = []
    list_display = ["email", "form", "variant_summary", "utm_source", "created_at"]
    filterset_class = LeadFilterSet
    search_fields = ["email"]
    ordering = ["-created_at"]
    list_export = [
        "created_at", "form", "email", "data_summary", "variant_summary", "page",
        "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer",
        "visitor_id",
    ]
    export_filename = "leads"
    inspect_view_fields = [
        "form", "email", "data", "visitor_id", "variants", "page", "referrer",
        "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "user",
        "created_at",
    ]

    def get_queryset(self, request):
        return Lead.objects.select_related("form").prefetch_related("variants__experiment")
