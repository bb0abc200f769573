"""One benchmark run: set up a database and a server, measure, print ``name=value`` lines."""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time

from .database import dedicated_database
from .queries import extra_queries_for_returning_visitors
from .serve import measure_serving
from .server import gunicorn_server
from .traffic import create_returning_visitors

SERVE_RATIO_GOAL = 0.95
RETURNING_VISITOR_QUERIES_GOAL = 0
VISITORS = 200


def main():
    started = time.monotonic()
    # A SIGTERM (a CI timeout, say) would end the process on the spot; as an exception it
    # still runs the finally blocks that stop gunicorn and drop the database.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with (
        dedicated_database() as database_url,
        tempfile.TemporaryDirectory(prefix="wexp-bench-") as var_dir,
    ):
        # One environment for this process and for gunicorn: the same database, and the
        # same file cache through which the route-table version reaches the workers.
        environment = {
            "DATABASE_URL": database_url,
            "SANDBOX_VAR_DIR": var_dir,
            "DJANGO_DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "sandbox_site.settings",
        }
        os.environ.update(environment)
        try:
            figures = _measure(environment)
        finally:
            _close_django_connections()
    for name, value in figures.items():
        print(f"{name}={value}", flush=True)
    log(f"benchmark took {time.monotonic() - started:.0f} s")
    return 0


def _measure(environment):
    log("setting up the database and the demo content")
    experiment = _set_up_django()
    with gunicorn_server(environment) as server:
        log(f"gunicorn answers on port {server.port}; creating {VISITORS} returning visitors")
        visitors = create_returning_visitors(server.port, VISITORS)
        extra_queries = extra_queries_for_returning_visitors(experiment, visitors, log)
        serving = measure_serving(server, experiment, visitors, log)
    return {**_serve_figures(serving), **_query_figures(extra_queries)}


def _serve_figures(serving):
    ratios = serving.ratios()
    ratio = statistics.median(ratios)
    figures = {
        "serve_ratio": f"{ratio:.3f}",
        "serve_rps_experiment": f"{serving.median_rps(experiment_running=True):.1f}",
        "serve_rps_baseline": f"{serving.median_rps(experiment_running=False):.1f}",
        # The spread of the rounds says how far the median can be trusted.
        "serve_ratio_min": f"{min(ratios):.3f}",
        "serve_ratio_max": f"{max(ratios):.3f}",
        "serve_rounds": str(len(ratios)),
    }
    cpu_ratio = serving.median_cpu_ratio()
    if cpu_ratio is not None:
        # Less sensitive to other processes than requests/s: a cross-check of serve_ratio.
        figures["serve_cpu_ratio"] = f"{cpu_ratio:.3f}"
    disturbed = serving.disturbed_rounds()
    if disturbed is not None:
        figures["serve_disturbed_rounds"] = str(disturbed)
        if disturbed:
            log(
                f"warning: other processes competed for the CPU in {disturbed} of "
                f"{len(ratios)} rounds; serve_ratio is less reliable than usual"
            )
    figures["goal_serve_ratio_met"] = _yes_no(ratio >= SERVE_RATIO_GOAL)
    return figures


def _query_figures(extra_queries):
    return {
        "returning_visitor_queries": str(extra_queries),
        "goal_returning_visitor_queries_met": _yes_no(
            extra_queries <= RETURNING_VISITOR_QUERIES_GOAL
        ),
    }


def _set_up_django():
    """Migrate the fresh database and load the demo; returns the running experiment."""
    import django

    django.setup()
    from django.core.management import call_command

    from sandbox_site.home.demo import load_demo_content

    call_command("migrate", interactive=False, verbosity=0)
    return load_demo_content()


def _close_django_connections():
    # Open connections would keep the database busy when it is dropped.
    from django.db import connections

    connections.close_all()


def _exit_on_signal(signum, frame):
    sys.exit(128 + signum)


def _yes_no(condition):
    return "yes" if condition else "no"


def log(message):
    print(message, file=sys.stderr, flush=True)
