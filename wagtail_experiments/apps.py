from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WagtailExperimentsAppConfig(AppConfig):
    name = "wagtail_experiments"
    label = "wagtail_experiments"
    verbose_name = _("Experiments")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, page_guard, routing  # noqa: F401 (checks registers itself)

        routing.connect_invalidation_signals()
        page_guard.connect_signals()
