"""Phase ``cache``: first views at the origin, and returning visitors through Varnish.

- ``new_visitor_serve_ratio``: requests/s of ``/landing/`` for **new** visitors (no cookies:
  each is bucketed and its exposure written) ÷ the same page with no running experiment,
  for visitors without cookies, through gunicorn; interleaved rounds, median. Measured with
  the default ``EXPOSURE_WRITES = "immediate"`` (the write before the page is sent) and,
  as ``new_visitor_serve_ratio_buffered``, with ``"buffered"`` (``exposure_buffer``), where
  ``new_visitor_exposures_lost`` counts bucketed new visitors whose exposure was not in
  the database once gunicorn had stopped (goal 0).
- ``cached_serve_ratio``: returning visitors' requests/s for ``/landing/`` through Debian's
  Varnish with the shipped VCL (``docs/caching/varnish.vcl``), the origin in shared-cache
  mode, ÷ the same page without a running experiment through the same Varnish; both should
  be cache hits. ``cache_hit_share`` is the share of the experiment rounds' responses that
  were hits (after one warm-up round).
"""

from __future__ import annotations

import http.client
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .serve import SWITCH_SETTLE_SECONDS
from .server import REPO_ROOT, SERVE_CONFIG, _free_port, gunicorn_server
from .switch import set_experiment_running
from .traffic import (
    BROWSER_USER_AGENT,
    HOST,
    LANDING_PATH,
    REQUEST_TIMEOUT_SECONDS,
    WrongScenario,
    _cycle_until,
    _served_variant,
    _set_cookies,
)

NEW_VISITOR_SERVE_RATIO_GOAL = 0.90
CACHED_SERVE_RATIO_GOAL = 0.9
CACHE_HIT_SHARE_GOAL = 0.95
ROUNDS = int(os.environ.get("WEXP_BENCH_CACHE_ROUNDS", "6"))
ROUND_SECONDS = float(os.environ.get("WEXP_BENCH_ROUND_SECONDS", "3"))
WARMUP_ROUNDS = 1
CONNECTIONS = 4
CACHED_VISITORS = 200
VCL = REPO_ROOT / "docs" / "caching" / "varnish.vcl"


@dataclass(frozen=True)
class Visitor:
    """A browser: its cookies as it sends them back (none for a new visitor)."""

    cookie_header: str = ""
    variant: str | None = None
    # The site's own host: what the cache keys and purges on (default: the address dialled).
    host: str | None = None

    def headers(self):
        headers = {"User-Agent": BROWSER_USER_AGENT}
        if self.host:
            headers["Host"] = self.host
        if self.cookie_header:
            headers["Cookie"] = self.cookie_header
        return headers


def cache_phase(environment, experiment, log):
    """Both figures and their goals, as ``{name: value}``."""
    figures = _new_visitor_figures(environment, experiment, log, "immediate")
    figures.update(_new_visitor_figures(environment, experiment, log, "buffered"))
    figures.update(_cached_figures(environment, experiment, log))
    return figures


# New visitors at the origin.

def _new_visitor_figures(environment, experiment, log, exposure_writes):
    from wagtail_experiments.models import Exposure

    ratios, running_rps, paused_rps = [], [], []
    bucketed = _Tally()
    exposures_before = Exposure.objects.filter(experiment=experiment).count()
    mode = {**environment, "WEXP_BENCH_EXPOSURE_WRITES": exposure_writes}
    with gunicorn_server(mode, SERVE_CONFIG) as server:
        log(f"cache: new visitors at gunicorn ({SERVE_CONFIG}) on port {server.port}, "
            f"{exposure_writes} exposure writes")
        for number in range(WARMUP_ROUNDS + ROUNDS):
            order = (True, False) if number % 2 == 0 else (False, True)
            measured = {}
            for running in order:
                _switch(experiment, running)
                check = _new_visitor_check(running, bucketed)
                measured[running] = _load(server.port, [Visitor()], check)[0]
            label = "warm-up" if number < WARMUP_ROUNDS else f"round {number}"
            log(
                f"new visitors {label}: experiment {measured[True]:.1f} req/s, page without "
                f"an experiment {measured[False]:.1f} req/s, ratio "
                f"{measured[True] / measured[False]:.3f}"
            )
            if number >= WARMUP_ROUNDS:
                running_rps.append(measured[True])
                paused_rps.append(measured[False])
                ratios.append(measured[True] / measured[False])
    # gunicorn has stopped: a buffered worker wrote what it held as it exited.
    written = Exposure.objects.filter(experiment=experiment).count() - exposures_before
    ratio = statistics.median(ratios)
    suffix = "" if exposure_writes == "immediate" else f"_{exposure_writes}"
    return {
        f"new_visitor_serve_ratio{suffix}": f"{ratio:.3f}",
        f"new_visitor_rps_experiment{suffix}": f"{statistics.median(running_rps):.1f}",
        f"new_visitor_rps_baseline{suffix}": f"{statistics.median(paused_rps):.1f}",
        f"new_visitor_serve_ratio{suffix}_min": f"{min(ratios):.3f}",
        f"new_visitor_serve_ratio{suffix}_max": f"{max(ratios):.3f}",
        f"new_visitor_exposures_lost{suffix}": str(bucketed.count - written),
        f"goal_new_visitor_serve_ratio{suffix}_met": _yes_no(
            ratio >= NEW_VISITOR_SERVE_RATIO_GOAL
        ),
    }


class _Tally:
    """A count the load's threads add to."""

    def __init__(self):
        self.count, self._lock = 0, threading.Lock()

    def add(self):
        with self._lock:
            self.count += 1


def _new_visitor_check(experiment_running, bucketed_tally):
    def check(response, visitor):
        if response.status != 200:
            raise WrongScenario(f"{LANDING_PATH} answered {response.status}")
        bucketed = _served_variant(response) is not None
        if bucketed != experiment_running:
            raise WrongScenario(
                f"a new visitor was {'not ' if experiment_running else ''}bucketed"
            )
        if bucketed:
            bucketed_tally.add()
    return check


# Returning visitors through Varnish.

def _cached_figures(environment, experiment, log):
    from django.test.utils import override_settings

    varnishd = shutil.which("varnishd") or shutil.which("varnishd", path="/usr/sbin")
    if not varnishd:
        raise SystemExit("the cache phase needs Debian's varnish (apt-get install varnish)")
    shared = {**environment, "WEXP_BENCH_SHARED_CACHE": "1"}
    with gunicorn_server(shared, SERVE_CONFIG) as server, _varnish(varnishd, server.port) as port:
        purging = override_settings(
            WAGTAIL_EXPERIMENTS={**_experiments_settings(), "SHARED_CACHE": True},
            WAGTAILFRONTENDCACHE={"varnish": {
                "BACKEND": "wagtail.contrib.frontend_cache.backends.HTTPBackend",
                "LOCATION": f"http://{HOST}:{port}",
            }},
        )
        with purging:
            _switch(experiment, True)
            log(f"cache: Varnish on port {port} in front of gunicorn on port {server.port}; "
                f"creating {CACHED_VISITORS} returning visitors")
            host = urlsplit(experiment.control_page.full_url).netloc
            visitors = [_first_view_through(port, host) for _ in range(CACHED_VISITORS)]
            ratios, running_rps, paused_rps, statuses = [], [], [], Counter()
            for number in range(WARMUP_ROUNDS + ROUNDS):
                order = (True, False) if number % 2 == 0 else (False, True)
                measured = {}
                for running in order:
                    _switch(experiment, running)
                    rps, seen = _load(port, visitors, _cached_check(running))
                    measured[running] = rps
                    if running and number >= WARMUP_ROUNDS:
                        statuses.update(seen)
                label = "warm-up" if number < WARMUP_ROUNDS else f"round {number}"
                log(
                    f"through Varnish {label}: experiment {measured[True]:.1f} req/s, page "
                    f"without an experiment {measured[False]:.1f} req/s, ratio "
                    f"{measured[True] / measured[False]:.3f}"
                )
                if number >= WARMUP_ROUNDS:
                    running_rps.append(measured[True])
                    paused_rps.append(measured[False])
                    ratios.append(measured[True] / measured[False])
            _switch(experiment, True)
    ratio = statistics.median(ratios)
    hit_share = statuses["HIT"] / sum(statuses.values())
    return {
        "cached_serve_ratio": f"{ratio:.3f}",
        "cached_rps_experiment": f"{statistics.median(running_rps):.1f}",
        "cached_rps_baseline": f"{statistics.median(paused_rps):.1f}",
        "cached_serve_ratio_min": f"{min(ratios):.3f}",
        "cached_serve_ratio_max": f"{max(ratios):.3f}",
        "cache_hit_share": f"{hit_share:.3f}",
        "goal_cached_serve_ratio_met": _yes_no(ratio >= CACHED_SERVE_RATIO_GOAL),
        "goal_cache_hit_share_met": _yes_no(hit_share >= CACHE_HIT_SHARE_GOAL),
    }


def _experiments_settings():
    from django.conf import settings

    return dict(getattr(settings, "WAGTAIL_EXPERIMENTS", {}))


def _first_view_through(port, host):
    """A new browser's first view through the cache; the visitor with all its cookies."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request("GET", LANDING_PATH, headers=Visitor(host=host).headers())
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    cookies = _set_cookies(response)
    variant = _served_variant(response)
    if response.status != 200 or variant is None or "wexp_v" not in cookies:
        raise WrongScenario(
            f"a first view should be bucketed and get the key cookie; got {response.status}, "
            f"variant {variant!r}, cookies {sorted(cookies)}"
        )
    cookie_header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return Visitor(cookie_header, variant, host)


def _cached_check(experiment_running):
    def check(response, visitor):
        if response.status != 200:
            raise WrongScenario(f"{LANDING_PATH} answered {response.status}")
        expected = visitor.variant if experiment_running else None
        if _served_variant(response) != expected:
            raise WrongScenario(f"expected variant {expected!r} through the cache")
        if response.getheader("Set-Cookie"):
            raise WrongScenario("a returning visitor was sent a cookie through the cache")
    return check


@contextmanager
def _varnish(varnishd, origin_port):
    workdir = Path(tempfile.mkdtemp(prefix="wexp-bench-varnish-"))
    workdir.chmod(0o755)  # varnishd reads the VCL as its own unprivileged user
    vcl = workdir / "site.vcl"
    vcl.write_text(VCL.read_text().replace('.port = "8000";', f'.port = "{origin_port}";'))
    port = _free_port()
    process = subprocess.Popen(
        [varnishd, "-F", "-f", str(vcl), "-a", f"{HOST}:{port}", "-n", str(workdir / "n"),
         "-s", "malloc,64m", "-T", "none"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        _wait_for(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for(port, process, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection(HOST, port, timeout=0.5).connect()
            return
        except OSError:
            if process.poll() is not None:
                stderr = process.stderr.read().decode()
                raise RuntimeError(f"varnishd exited: {stderr}") from None
            time.sleep(0.2)
    raise RuntimeError(f"varnishd did not listen on port {port} within {seconds} s")


# Load.

# Every gunicorn worker sees a switch within ROUTE_TABLE_RECHECK_SECONDS (1 s); the second
# purge goes 0.5 s after that and drops anything a worker served from the old state.
PURGED_SETTLE_SECONDS = 2.5


def _switch(experiment, running):
    if set_experiment_running(experiment, running):
        time.sleep(max(SWITCH_SETTLE_SECONDS, PURGED_SETTLE_SECONDS))


def _load(port, visitors, check):
    """``CONNECTIONS`` clients for ``ROUND_SECONDS``, every response checked; returns
    (requests/s, Counter of the responses' X-Cache values)."""
    started = time.monotonic()
    deadline = started + ROUND_SECONDS
    seen, lock = Counter(), threading.Lock()
    with ThreadPoolExecutor(max_workers=CONNECTIONS) as pool:
        futures = []
        for client in range(CONNECTIONS):
            # Each client starts at its own offset, so they spread over the visitors.
            offset = client % len(visitors)
            mine = visitors[offset:] + visitors[:offset]
            futures.append(pool.submit(_drive, port, mine, check, deadline, seen, lock))
        completed = sum(future.result() for future in futures)
    return completed / (time.monotonic() - started), seen


def _drive(port, visitors, check, deadline, seen, lock):
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
    completed, statuses = 0, Counter()
    try:
        for visitor in _cycle_until(visitors, deadline):
            connection.request("GET", LANDING_PATH, headers=visitor.headers())
            response = connection.getresponse()
            response.read()
            check(response, visitor)
            statuses[response.getheader("X-Cache", "none")] += 1
            completed += 1
    finally:
        connection.close()
    with lock:
        seen.update(statuses)
    return completed


def _yes_no(condition):
    return "yes" if condition else "no"
