"""Database queries the experiment adds for a returning visitor, counted in-process."""

from __future__ import annotations

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from .switch import set_experiment_running
from .traffic import BROWSER_USER_AGENT, EXPERIMENT_SLUG, LANDING_PATH, VARIANT_HEADER


def extra_queries_for_returning_visitors(experiment, visitors, log):
    """max(queries while running - queries while paused) over a returning visitor of the
    control and one of another variant: the two serve paths (page kept, page swapped)."""
    chosen = _one_control_and_one_other(visitors)
    running = {visitor.variant: _count_queries(visitor, True) for visitor in chosen}
    set_experiment_running(experiment, False)
    try:
        paused = {visitor.variant: _count_queries(visitor, False) for visitor in chosen}
    finally:
        set_experiment_running(experiment, True)
    log(f"queries per returning-visitor request: running {running}, paused {paused}")
    return max(running[variant] - paused[variant] for variant in running)


def _one_control_and_one_other(visitors):
    control = next((visitor for visitor in visitors if visitor.variant == "control"), None)
    other = next((visitor for visitor in visitors if visitor.variant != "control"), None)
    if control is None or other is None:
        raise RuntimeError("need returning visitors in the control and in another variant")
    return control, other


def _count_queries(visitor, experiment_running):
    client = Client(HTTP_USER_AGENT=BROWSER_USER_AGENT)
    # The first request after a switch rebuilds the route table and warms Wagtail's site
    # cache; only the steady state of a returning visitor is measured.
    _get(client, visitor, experiment_running)
    with CaptureQueriesContext(connection) as captured:
        _get(client, visitor, experiment_running)
    return len(captured)


def _get(client, visitor, experiment_running):
    # The visitor's cookies exactly as its browser sends them, not re-encoded by the client.
    response = client.get(LANDING_PATH, HTTP_COOKIE=visitor.cookie_header)
    expected = f"{EXPERIMENT_SLUG}={visitor.variant}" if experiment_running else None
    served = response.headers.get(VARIANT_HEADER)
    if response.status_code != 200 or served != expected:
        raise AssertionError(
            f"in-process request: status {response.status_code}, variant header {served!r}, "
            f"expected {expected!r}"
        )
    return response
