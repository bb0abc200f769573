"""The admin dashboard's panel of running experiments."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.admin.ui.components import Component

from .compat import get_permission_policy
from .models import Experiment
from .results import experiment_results

RECENTLY_FINISHED_DAYS = 30


class RunningExperimentsPanel(Component):
    name = "running_experiments"
    order = 50
    template_name = "wagtail_experiments/admin/dashboard_panel.html"

    def __init__(self, request):
        self.request = request

    def is_shown(self):
        policy = get_permission_policy(Experiment)
        return policy.user_has_permission(self.request.user, "view")

    def get_context_data(self, parent_context=None):
        rows = []
        for experiment in Experiment.objects.filter(status=Experiment.Status.RUNNING):
            results = experiment_results(experiment)
            rows.append({"experiment": experiment, "visitors": results["visitors"],
                         "verdict": results["verdict"]})
        paused = Experiment.objects.filter(
            status=Experiment.Status.PAUSED).exclude(pause_reason="")
        finished = Experiment.objects.filter(
            status=Experiment.Status.COMPLETED,
            completed_at__gte=timezone.now() - timedelta(days=RECENTLY_FINISHED_DAYS),
        ).select_related("winner").order_by("-completed_at")
        return {"rows": rows, "paused": paused, "finished": finished,
                "finished_days": RECENTLY_FINISHED_DAYS, "title": _("Running experiments")}


def add_running_experiments_panel(request, panels):
    """``construct_homepage_panels`` hook."""
    panel = RunningExperimentsPanel(request)
    if panel.is_shown():
        panels.append(panel)
