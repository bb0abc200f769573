"""Turning the demo experiment on and off, the way an editor would."""


def set_experiment_running(experiment, running):
    """Pause or resume ``experiment``; returns whether that changed anything.

    Its save publishes a new route-table version in the shared cache: this process serves
    the change at once, gunicorn workers within ``ROUTE_TABLE_RECHECK_SECONDS``.
    """
    is_running = experiment.status == experiment.Status.RUNNING
    if running and not is_running:
        experiment.resume()
        return True
    if is_running and not running:
        experiment.pause()
        return True
    return False
