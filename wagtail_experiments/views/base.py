"""What the experiments' admin screens share."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from wagtail.admin.views.generic import models as generic
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin


class ExperimentScreenMixin(WagtailAdminTemplateMixin):
    """Breadcrumbs Home, Experiments, this screen, and the experiments icon."""

    header_icon = "tasks"

    def get_breadcrumbs_items(self):
        return [
            *super().get_breadcrumbs_items(),
            {"url": reverse("experiments:index"), "label": _("Experiments")},
            {"url": "", "label": self.get_page_title()},
        ]


# Spreadsheet programs run cells starting with these as formulas.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class ViewPermissionIndexView(generic.IndexView):
    """Listing (and export) only for users with the "view" permission: Wagtail's default
    also admits anyone who may add, change or delete, and leads are personal data.

    Its CSV export also defuses formulas: visitors write these values (UTM parameters,
    URLs, form data), and Wagtail neutralises them only in XLSX exports.
    """

    any_permission_required = ["view"]

    def write_csv_row(self, writer, row_dict):
        return writer.writerow(
            {
                field: _defused(self.preprocess_field_value(field, value, self.FORMAT_CSV))
                for field, value in row_dict.items()
            }
        )


def _defused(value):
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


class ViewPermissionInspectView(generic.InspectView):
    any_permission_required = ["view"]
