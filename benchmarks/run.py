"""One benchmark run: set up a database and a server, measure, print ``name=value`` lines."""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time

from .cache import cache_phase
from .database import dedicated_database
from .dataset import DAYS, generate
from .ingest import (
    BATCH_VISITORS,
    CONFIG_PATH,
    NO_DATABASE_PATH,
    PACED_CLIENTS,
    SINGLE_VISITORS,
    IngestError,
    ingest_batches,
    paced_single_events,
    single_event_latency,
)
from .machine import cpu_use_during, postgres_backend_pids
from .queries import extra_queries_for_returning_visitors
from .results import create_results_experiment, time_results
from .serve import SWITCH_SETTLE_SECONDS, measure_serving
from .server import SERVE_CONFIG, GunicornConfig, gunicorn_server
from .switch import set_experiment_running
from .traffic import create_returning_visitors

SERVE_RATIO_GOAL = 0.95
RETURNING_VISITOR_QUERIES_GOAL = 0
EVENTS_PER_SECOND_GOAL = 2000
SINGLE_EVENT_CAPACITY_RATIO_GOAL = 0.5
# Each round is about 4 s; a round's ratio moves by ±0.05 with the machine, five make the
# median steady.
CAPACITY_ROUNDS = 5
SINGLE_EVENT_P99_MS_HALF_LOAD_GOAL = 25
RESULTS_MS_GOAL = 300
VISITORS = 200
# Posting events waits on the database, but since an event is one prepared statement in
# one round trip (wagtail_experiments.single_event) it waits little: on two cores, four
# sync workers (the default until then) only added switching between eight busy processes.
# Three interleaved runs of each, 2026-12-07: single events 892-1,207 requests/s with four
# workers, 1,111-1,234 with three, 1,105-1,330 with two; the public config (the capacity
# ratio's baseline) 1,929-2,122 with four, 1,918-2,067 with three, 1,729-1,922 with two;
# batches 8,460-9,100, 9,010-9,670 and 9,070-10,660 events/s. Three serve the baseline as
# fast as four do, and events nearly as fast as two. They close the connection after each
# response (the clients reconnect); gthread workers keep it alive, but their threads
# compete for one interpreter each, and were slower here (2x4: 984 single events/s, p99 at
# half load 57 ms). WEXP_BENCH_EVENTS_GUNICORN (e.g. "sync-4x1") tries another.
EVENTS_CONFIG = GunicornConfig.parse(os.environ.get("WEXP_BENCH_EVENTS_GUNICORN", "sync-3x1"))
# In this order; the results phase comes last, so its 10 million rows weigh on no other.
PHASES = ("serve", "cache", "events", "results")


def main():
    started = time.monotonic()
    phases = _phases(os.environ.get("WEXP_BENCH_ONLY", ""))
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
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        }
        os.environ.update(environment)
        try:
            _measure(environment, database_url, phases)
        finally:
            _close_django_connections()
    log(f"benchmark took {time.monotonic() - started:.0f} s")
    return 0


def _phases(only):
    """The phases ``WEXP_BENCH_ONLY`` names (comma-separated), all when it is empty."""
    chosen = {name.strip() for name in only.split(",") if name.strip()} or set(PHASES)
    unknown = chosen - set(PHASES)
    if unknown:
        raise SystemExit(
            f"WEXP_BENCH_ONLY: unknown phase(s) {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(PHASES)}"
        )
    return [phase for phase in PHASES if phase in chosen]


def _measure(environment, database_url, phases):
    """Each phase's figures are printed as soon as it ends."""
    log(f"setting up the database and the demo content; phases: {', '.join(phases)}")
    experiment = _set_up_django()
    for phase in phases:
        if phase == "serve":
            figures = _serve_phase(environment, experiment)
        elif phase == "cache":
            figures = cache_phase(environment, experiment, log)
        elif phase == "events":
            figures = _events_phase(environment, experiment)
        else:
            figures = _results_phase(database_url, experiment)
        for name, value in figures.items():
            print(f"{name}={value}", flush=True)


def _serve_phase(environment, experiment):
    with gunicorn_server(environment, SERVE_CONFIG) as server:
        log(
            f"serve: gunicorn ({SERVE_CONFIG}) answers on port {server.port}; "
            f"creating {VISITORS} returning visitors"
        )
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


def _events_phase(environment, experiment):
    from wagtail_experiments.models import Event

    # The serve phase may have left the experiment paused; events of a paused one are
    # rejected. The new server's workers read the route table afresh.
    if set_experiment_running(experiment, True):
        time.sleep(SWITCH_SETTLE_SECONDS)
    stored_before = Event.objects.count()
    with gunicorn_server(environment, EVENTS_CONFIG) as server:
        visitor_count = BATCH_VISITORS + SINGLE_VISITORS + PACED_CLIENTS
        log(
            f"events: gunicorn ({EVENTS_CONFIG}) answers on port {server.port}; "
            f"exposing {visitor_count} visitors"
        )
        visitors = create_returning_visitors(server.port, visitor_count)
        batch_visitors = visitors[:BATCH_VISITORS]
        single_visitors = visitors[BATCH_VISITORS:BATCH_VISITORS + SINGLE_VISITORS]
        paced_visitors = visitors[BATCH_VISITORS + SINGLE_VISITORS:]
        batches, cpu = cpu_use_during(
            _processes(server), lambda: ingest_batches(server.port, batch_visitors)
        )
        log(
            f"batches: {batches.events} events in {batches.seconds:.1f} s, "
            f"{batches.events_per_second:.0f} events/s{_cpu_note(cpu, batches.accepted, 'event')}"
        )
        # Capacity: the same clients, as fast as they are answered, on the events API and
        # on a database-free endpoint of the same workers, in interleaved rounds (the
        # machine's speed drifts between runs); the ratio is the rounds' median.
        rounds = []
        for number in range(CAPACITY_ROUNDS):
            singles, cpu = cpu_use_during(
                _processes(server),
                lambda number=number: single_event_latency(
                    server.port, single_visitors, prefix=f"single{number}"
                ),
            )
            baseline = single_event_latency(server.port, single_visitors, CONFIG_PATH)
            bare = single_event_latency(server.port, single_visitors, NO_DATABASE_PATH)
            rounds.append((singles, baseline, bare))
            log(
                f"capacity round {number + 1}: single events "
                f"{singles.requests_per_second:.0f} requests/s"
                f"{_cpu_note(cpu, singles.accepted, 'request')}; public config "
                f"{baseline.requests_per_second:.0f} requests/s; bare view "
                f"{bare.requests_per_second:.0f} requests/s"
            )
        single_rps = statistics.median(s.requests_per_second for s, _, _ in rounds)
        baseline_rps = statistics.median(b.requests_per_second for _, b, _ in rounds)
        bare_rps = statistics.median(b.requests_per_second for _, _, b in rounds)
        round_ratios = [s.requests_per_second / b.requests_per_second for s, b, _ in rounds]
        ratio = statistics.median(round_ratios)
        paced = paced_single_events(server.port, paced_visitors, single_rps / 2)
        log(
            f"paced single events: {len(paced.latencies_ms)} timed requests at "
            f"{paced.rate:.0f} requests/s, p50 {paced.percentile(50):.1f} ms"
        )
    accepted = batches.accepted + sum(s.accepted for s, _, _ in rounds) + paced.accepted
    stored = Event.objects.count() - stored_before
    if stored != accepted:
        raise IngestError(f"{accepted} events were accepted, but {stored} were stored")
    p99 = paced.percentile(99)
    return {
        "events_per_s": f"{batches.events_per_second:.0f}",
        "events_accepted": str(accepted),
        "goal_events_per_s_met": _yes_no(batches.events_per_second >= EVENTS_PER_SECOND_GOAL),
        "single_event_rps": f"{single_rps:.0f}",
        "config_rps": f"{baseline_rps:.0f}",
        "bare_view_rps": f"{bare_rps:.0f}",
        "single_event_capacity_ratio": f"{ratio:.2f}",
        "single_event_capacity_ratio_min": f"{min(round_ratios):.2f}",
        "single_event_capacity_ratio_max": f"{max(round_ratios):.2f}",
        "goal_single_event_capacity_ratio_met": _yes_no(
            ratio >= SINGLE_EVENT_CAPACITY_RATIO_GOAL
        ),
        "single_event_p50_ms_half_load": f"{paced.percentile(50):.1f}",
        "single_event_p99_ms_half_load": f"{p99:.1f}",
        "goal_single_event_p99_ms_half_load_met": _yes_no(
            p99 < SINGLE_EVENT_P99_MS_HALF_LOAD_GOAL
        ),
        "events_gunicorn": EVENTS_CONFIG.token(),
    }


def _processes(server):
    return {
        "gunicorn workers": server.worker_pids(),
        "PostgreSQL": postgres_backend_pids(),
        "load generator": [os.getpid()],
    }


def _cpu_note(cpu, count, unit):
    """Where the CPU went, per ``unit``: tells a slow server from a busy machine."""
    if cpu is None or not count:
        return ""
    spent = ", ".join(f"{name} {ms:.2f}" for name, ms in cpu.per(count).items())
    return (
        f"; CPU ms per {unit}: {spent}; other processes used "
        f"{cpu.others_share():.0%} of the machine"
    )


def _results_phase(database_url, experiment):
    results_experiment = create_results_experiment(experiment, DAYS)
    log(f"results: generating the data of experiment {results_experiment.slug!r}")
    dataset = generate(database_url, results_experiment, log)
    log(
        f"generated {dataset.events} events of {dataset.visitors} visitors in "
        f"{dataset.seconds:.0f} s"
    )
    timing = time_results(results_experiment.pk, log)
    return {
        "results_events": str(timing.events),
        "results_ms": f"{timing.median_ms:.1f}",
        "results_ms_min": f"{min(timing.runs_ms):.1f}",
        "results_ms_max": f"{max(timing.runs_ms):.1f}",
        "goal_results_ms_met": _yes_no(timing.median_ms < RESULTS_MS_GOAL),
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
