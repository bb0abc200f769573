"""What the experiments' admin screens share."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
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
