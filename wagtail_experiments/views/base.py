"""What the experiments' admin screens share."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from wagtail.admin.views.generic import models as generic
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from ..text import for_spreadsheet


class ExperimentScreenMixin(WagtailAdminTemplateMixin):
    """Breadcrumbs Home, Experiments, this screen, and the experiments icon."""

    header_icon = "tasks"

    def get_breadcrumbs_items(self):
        return [
            *super().get_breadcrumbs_items(),
            {"url": reverse("experiments:index"), "label": _("Experiments")},
            {"url": "", "label": self.get_page_title()},
        ]


class ViewPermissionIndexView(generic.IndexView):
    """Listing (and export) only for users with the "view" permission: Wagtail's default
    also admits anyone who may add, change or delete, and leads are personal data.

    Its exports write what visitors sent (UTM parameters, URLs, form data) safely: no
    character the file cannot hold, and no formula in CSV (Wagtail neutralises formulas
    only in XLSX).
    """

    any_permission_required = ["view"]

    def preprocess_field_value(self, field, value, export_format):
        value = super().preprocess_field_value(field, value, export_format)
        return for_spreadsheet(value, csv=export_format == self.FORMAT_CSV)


class ViewPermissionInspectView(generic.InspectView):
    any_permission_required = ["view"]
