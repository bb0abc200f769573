"""The events API through gunicorn: batch ingestion throughput, and single-event latency
under concurrent clients. Every response is checked: a rejected or lost event stops the run."""

from __future__ import annotations

import http.client
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .traffic import BROWSER_USER_AGENT, EXPERIMENT_SLUG, HOST, REQUEST_TIMEOUT_SECONDS

EVENTS_PATH = "/_experiments/api/events"
# The baseline of the capacity ratio, as the issue that set the goal measured it: the
# public config, a database-free endpoint of the same API (route table in memory, JSON).
CONFIG_PATH = "/_experiments/api/experiments"
# For scale: a bare database-free view that only parses the body (``benchmarks.urls``).
NO_DATABASE_PATH = "/_bench/no-database"
# The API's maximum per request.
BATCH_SIZE = 100
# Concurrent clients posting batches for this long; batches answered in the first seconds
# (connections, caches, the database's first pages) are not counted.
BATCH_CLIENTS = 8
BATCH_SECONDS = 12.0
BATCH_WARMUP_SECONDS = 2.0
# Visitors each batch client takes turns with; every visitor posts on one client only.
VISITORS_PER_BATCH_CLIENT = 4
# Concurrent clients posting one event per request, each this many requests (the first few
# of each client fill connections and caches and are not counted).
SINGLE_CLIENTS = 20
SINGLE_REQUESTS = 100
SINGLE_WARMUP = 5
# The paced run: this long at half the measured single-event capacity, by one client per
# visitor, the first seconds not counted.
PACED_SECONDS = 12.0
PACED_WARMUP_SECONDS = 2.0
PACED_CLIENTS = 20
BATCH_VISITORS = BATCH_CLIENTS * VISITORS_PER_BATCH_CLIENT
SINGLE_VISITORS = SINGLE_CLIENTS


class IngestError(AssertionError):
    """The API did not store what it was sent: the figures would not mean anything."""


def percentile(latencies_ms, percent):
    return statistics.quantiles(latencies_ms, n=100, method="inclusive")[percent - 1]


@dataclass(frozen=True)
class BatchIngestion:
    # Events of the batches answered within the measured window, and its length.
    events: int
    seconds: float
    # Every event posted and accepted, warm-up included.
    accepted: int

    @property
    def events_per_second(self):
        return self.events / self.seconds


@dataclass(frozen=True)
class SingleEventLatency:
    # Of the requests after each client's warm-up.
    latencies_ms: list
    # Every request, warm-up included, and how long they all took.
    requests: int
    seconds: float
    accepted: int

    def percentile(self, percent):
        return percentile(self.latencies_ms, percent)

    @property
    def requests_per_second(self):
        return self.requests / self.seconds


def ingest_batches(port, visitors):
    """``BATCH_CLIENTS`` clients, each on its own persistent connection (reopened when the
    server closes it, as sync workers do), posting batches of ``BATCH_SIZE`` click events of
    its own visitors in turn, for ``BATCH_SECONDS``."""
    if len(visitors) != BATCH_VISITORS:
        raise ValueError(f"batch clients need {BATCH_VISITORS} visitors")
    groups = [visitors[client::BATCH_CLIENTS] for client in range(BATCH_CLIENTS)]
    started = time.monotonic()
    window = (started + BATCH_WARMUP_SECONDS, started + BATCH_SECONDS)
    with ThreadPoolExecutor(max_workers=BATCH_CLIENTS) as pool:
        futures = [pool.submit(_post_batches, port, group, window[1]) for group in groups]
        results = [future.result() for future in futures]
    answered = [moment for answered, _accepted in results for moment in answered]
    return BatchIngestion(
        events=BATCH_SIZE * sum(1 for moment in answered if window[0] <= moment < window[1]),
        seconds=window[1] - window[0],
        accepted=sum(accepted for _answered, accepted in results),
    )


def _post_batches(port, visitors, deadline):
    """Batches until ``deadline``; returns (when each was answered, events accepted)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
    sent = [0] * len(visitors)
    answered, accepted = [], 0
    try:
        while time.monotonic() < deadline:
            index = len(answered) % len(visitors)
            first = sent[index]
            events = [_click(f"{number}") for number in range(first, first + BATCH_SIZE)]
            accepted += _post(connection, visitors[index], {"events": events})
            sent[index] += BATCH_SIZE
            answered.append(time.monotonic())
    finally:
        connection.close()
    return answered, accepted


def single_event_latency(port, visitors, path=EVENTS_PATH, prefix="single"):
    """``SINGLE_CLIENTS`` clients each posting ``SINGLE_REQUESTS`` single events as fast as
    they are answered, each request timed on the client; one visitor per client. With
    ``path`` the database-free baseline endpoint, the same load measures what the workers
    answer without the database. ``prefix`` keeps event ids of separate runs apart."""
    if len(visitors) != SINGLE_VISITORS:
        raise ValueError(f"single-event clients need {SINGLE_VISITORS} visitors")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=SINGLE_CLIENTS) as pool:
        futures = [
            pool.submit(_post_singles, port, visitor, path, prefix) for visitor in visitors
        ]
        results = [future.result() for future in futures]
    return SingleEventLatency(
        latencies_ms=[latency for latencies, _accepted in results for latency in latencies],
        requests=SINGLE_CLIENTS * SINGLE_REQUESTS,
        seconds=time.monotonic() - started,
        accepted=sum(accepted for _latencies, accepted in results),
    )


def _post_singles(port, visitor, path, prefix):
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
    latencies, accepted = [], 0
    try:
        for number in range(SINGLE_REQUESTS):
            body = _click(f"{prefix}-{number}")
            started = time.perf_counter()
            if path == CONFIG_PATH:
                _get(connection, visitor, path)
            else:
                accepted += _post(connection, visitor, body, path)
            if number >= SINGLE_WARMUP:
                latencies.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return latencies, accepted


@dataclass(frozen=True)
class PacedLatency:
    """Single events sent on a fixed schedule (an open loop) at ``rate`` requests/s."""

    rate: float
    # From each request's scheduled moment to its answer: a request that had to wait for
    # an earlier one on its client counts that wait, as a visitor's would.
    latencies_ms: list
    accepted: int

    def percentile(self, percent):
        return percentile(self.latencies_ms, percent)


def paced_single_events(port, visitors, rate):
    """One client per visitor, together sending ``rate`` single events per second for
    ``PACED_SECONDS`` (the first ``PACED_WARMUP_SECONDS`` not counted), evenly spread."""
    clients = len(visitors)
    start = time.monotonic() + 0.2
    interval = clients / rate
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [
            pool.submit(_post_paced, port, visitor, start + index / rate, interval)
            for index, visitor in enumerate(visitors)
        ]
        results = [future.result() for future in futures]
    return PacedLatency(
        rate=rate,
        latencies_ms=[latency for latencies, _accepted in results for latency in latencies],
        accepted=sum(accepted for _latencies, accepted in results),
    )


def _post_paced(port, visitor, first, interval):
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
    latencies, accepted = [], 0
    deadline = first + PACED_SECONDS
    try:
        number = 0
        while (scheduled := first + number * interval) < deadline:
            time.sleep(max(0.0, scheduled - time.monotonic()))
            accepted += _post(connection, visitor, _click(f"paced-{number}"))
            if scheduled >= first + PACED_WARMUP_SECONDS:
                latencies.append((time.monotonic() - scheduled) * 1000)
            number += 1
    finally:
        connection.close()
    return latencies, accepted


def _click(event_id):
    return {"type": "click", "experiment": EXPERIMENT_SLUG, "goal": "cta", "id": event_id}


def _get(connection, visitor, path):
    connection.request("GET", path, headers={"User-Agent": BROWSER_USER_AGENT,
                                             "Cookie": visitor.cookie_header})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise IngestError(f"GET {path} answered {response.status} {body[:300]!r}")


def _post(connection, visitor, payload, path=EVENTS_PATH):
    """POST one request for ``visitor`` (its own cookies); returns the events accepted,
    which must be all of them."""
    sent = len(payload["events"]) if "events" in payload else 1
    connection.request(
        "POST",
        path,
        body=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/json",
            "User-Agent": BROWSER_USER_AGENT,
            "Cookie": visitor.cookie_header,
        },
    )
    response = connection.getresponse()
    body = response.read()
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if (
        response.status != 202
        or not isinstance(answer, dict)
        or answer.get("accepted") != sent
        or answer.get("duplicates")
        or answer.get("rejected")
    ):
        raise IngestError(
            f"{sent} events answered {response.status} {body[:300]!r}; expected 202 with "
            f"all {sent} accepted"
        )
    return sent
