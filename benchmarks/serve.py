"""serve_ratio: requests/s of returning visitors with the experiment running, against the
same page with no running experiment, through gunicorn."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field

from .machine import CpuSnapshot, postgres_backend_pids
from .switch import set_experiment_running
from .traffic import generate_load, wait_for_scenario

# On a quiet 2-core machine per-round ratios scatter by about ±8 %, far more while other
# processes compete, and the difference to detect is a few percent: the median needs a
# dozen rounds to be trusted against a 0.95 goal. Overridable, to check whether a result
# is noise: more or longer rounds should agree.
ROUNDS = int(os.environ.get("WEXP_BENCH_ROUNDS", "12"))
ROUND_SECONDS = float(os.environ.get("WEXP_BENCH_ROUND_SECONDS", "3"))
# The first round fills caches (templates, connections, the CPU's own) and is not counted.
WARMUP_ROUNDS = 1
# Twice the gunicorn workers: a worker never waits for the client to send its next request.
CONNECTIONS = 4
# Longer than the workers' route-table recheck interval (1 s), so both see a switch.
SWITCH_SETTLE_SECONDS = 1.5
# Other processes using more than this share of all cores make a round's ratio noise.
DISTURBED_CPU_SHARE = 0.10
SCENARIO_TIMEOUT_SECONDS = 10
SCENARIO_CONFIRMATIONS = 20


@dataclass(frozen=True)
class Measurement:
    requests_per_second: float
    # Both None where /proc cannot be read. CPU time per request leaves out the time a
    # worker waited for a core, so other processes disturb it less than requests/s.
    worker_cpu_ms_per_request: float | None = None
    # Share of all cores used by processes other than the gunicorn workers, the load
    # generator and PostgreSQL's backends of the benchmark database: should be near 0.
    other_cpu_share: float | None = None


@dataclass
class ServeResults:
    """The counted rounds; index i of both lists is round i."""

    experiment: list[Measurement] = field(default_factory=list)
    baseline: list[Measurement] = field(default_factory=list)

    def median_rps(self, experiment_running):
        measurements = self.experiment if experiment_running else self.baseline
        return statistics.median(m.requests_per_second for m in measurements)

    def ratios(self):
        return [
            running.requests_per_second / paused.requests_per_second
            for running, paused in zip(self.experiment, self.baseline, strict=True)
        ]

    def median_cpu_ratio(self):
        """Median per-round baseline ÷ experiment CPU per request (1.0 = no extra CPU)."""
        pairs = list(zip(self.experiment, self.baseline, strict=True))
        if any(not m.worker_cpu_ms_per_request for pair in pairs for m in pair):
            return None
        return statistics.median(
            paused.worker_cpu_ms_per_request / running.worker_cpu_ms_per_request
            for running, paused in pairs
        )

    def disturbed_rounds(self):
        """Rounds in which other processes took a noticeable share of the machine."""
        pairs = list(zip(self.experiment, self.baseline, strict=True))
        if any(m.other_cpu_share is None for pair in pairs for m in pair):
            return None
        return sum(
            1 for pair in pairs if any(m.other_cpu_share > DISTURBED_CPU_SHARE for m in pair)
        )


def measure_serving(server, experiment, visitors, log):
    """Interleaved rounds of both scenarios, alternating which goes first, so slow drifts
    of the machine weigh on both alike and each ratio compares measurements made seconds
    apart."""
    # Whatever ran before may have switched the experiment: let every worker catch up.
    set_experiment_running(experiment, True)
    time.sleep(SWITCH_SETTLE_SECONDS)
    results = ServeResults()
    for round_number in range(WARMUP_ROUNDS + ROUNDS):
        order = (True, False) if round_number % 2 == 0 else (False, True)
        measured = {running: _round(server, experiment, visitors, running) for running in order}
        _log_round(log, round_number, measured)
        if round_number >= WARMUP_ROUNDS:
            results.experiment.append(measured[True])
            results.baseline.append(measured[False])
    return results


def _round(server, experiment, visitors, experiment_running):
    """Returning visitors' requests/s with the experiment running or not running."""
    if set_experiment_running(experiment, experiment_running):
        time.sleep(SWITCH_SETTLE_SECONDS)
    wait_for_scenario(
        server.port,
        visitors,
        experiment_running,
        SCENARIO_TIMEOUT_SECONDS,
        SCENARIO_CONFIRMATIONS,
    )
    workers = server.worker_pids()
    watched = [*workers, os.getpid(), *postgres_backend_pids()]
    before = CpuSnapshot.take(watched)
    load = generate_load(server.port, visitors, experiment_running, ROUND_SECONDS, CONNECTIONS)
    after = CpuSnapshot.take(watched)
    if before is None or after is None or not load.requests:
        return Measurement(requests_per_second=load.requests_per_second)
    # Clock ticks of the machine and of the processes are sampled apart: clamp the
    # rounding that could make the difference slightly negative.
    others_busy = max(0.0, after.machine_busy - before.machine_busy - after.used_since(before))
    return Measurement(
        requests_per_second=load.requests_per_second,
        worker_cpu_ms_per_request=after.used_since(before, workers) * 1000 / load.requests,
        other_cpu_share=others_busy / (load.seconds * os.cpu_count()),
    )


def _log_round(log, round_number, measured):
    label = "warm-up" if round_number < WARMUP_ROUNDS else f"round {round_number}"
    running, paused = measured[True], measured[False]
    cpu = ""
    if running.worker_cpu_ms_per_request and paused.worker_cpu_ms_per_request:
        cpu = (
            f"; worker CPU {running.worker_cpu_ms_per_request:.2f} vs "
            f"{paused.worker_cpu_ms_per_request:.2f} ms/request, other processes' CPU "
            f"{running.other_cpu_share:.0%} and {paused.other_cpu_share:.0%}"
        )
    log(
        f"{label}: experiment {running.requests_per_second:.1f} req/s, baseline "
        f"{paused.requests_per_second:.1f} req/s, ratio "
        f"{running.requests_per_second / paused.requests_per_second:.3f}{cpu}"
    )
