"""Starting and completing experiments on their dates, without anyone acting.

Serving never waits for this: the router already serves a scheduled experiment from its
start and stops serving at its end. This brings the stored status (what editors and the
results see) in line, and sends the notifications (``notifications``). Run it from cron
(``manage.py run_experiment_schedule``) or enqueue the ``run_experiment_schedule_task``
task.
"""

from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from . import notifications
from .models import Experiment


def run_experiment_schedule(moment=None):
    """Apply the schedule of every experiment whose dates have come; returns
    ``[(slug, new status)]`` for those that changed."""
    moment = moment or timezone.now()
    due = Experiment.objects.filter(
        Q(status=Experiment.Status.SCHEDULED, starts_at__lte=moment)
        | Q(
            status__in=[Experiment.Status.RUNNING, Experiment.Status.PAUSED],
            ends_at__lte=moment,
        )
    )
    changes = []
    for experiment in due:
        status = experiment.apply_schedule(moment)
        if status:
            changes.append((experiment.slug, status))
            if status == Experiment.Status.COMPLETED:
                notifications.notify_schedule_ended(experiment)
    notifications.notify_verdicts()
    return changes


@task()
def run_experiment_schedule_task():
    return run_experiment_schedule()
