"""HTTP traffic to the landing page: creating returning visitors, and timed load rounds."""

from __future__ import annotations

import http.client
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

HOST = "127.0.0.1"
LANDING_PATH = "/landing/"
# wagtail_experiments.middleware.VARIANT_HEADER; not imported, so that this module works
# before Django is set up.
VARIANT_HEADER = "X-Experiment-Variant"
EXPERIMENT_SLUG = "landing-hero"
VISITOR_COOKIES = ("wexp_vid", "wexp_asg")
# Clients without a browser-like user agent count as bots and are never bucketed.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
REQUEST_TIMEOUT_SECONDS = 10


class WrongScenario(AssertionError):
    """A response shows the benchmark is not measuring what it claims to measure."""


@dataclass(frozen=True)
class ReturningVisitor:
    variant: str
    # Exactly as a browser sends them back: the raw Set-Cookie values.
    cookie_header: str

    def headers(self):
        return {"User-Agent": BROWSER_USER_AGENT, "Cookie": self.cookie_header}


def create_returning_visitors(port, count):
    """Visit the landing page ``count`` times as new browsers, keeping their cookies."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        return [_first_visit(connection) for _ in range(count)]
    finally:
        connection.close()


def _first_visit(connection):
    connection.request("GET", LANDING_PATH, headers={"User-Agent": BROWSER_USER_AGENT})
    response = connection.getresponse()
    response.read()
    cookies = _set_cookies(response)
    variant = _served_variant(response)
    if response.status != 200 or variant is None or set(VISITOR_COOKIES) - set(cookies):
        raise WrongScenario(
            f"A first visit should be bucketed and get {VISITOR_COOKIES}; got status "
            f"{response.status}, variant {variant!r}, cookies {sorted(cookies)}"
        )
    cookie_header = "; ".join(f"{name}={cookies[name]}" for name in VISITOR_COOKIES)
    return ReturningVisitor(variant=variant, cookie_header=cookie_header)


def _set_cookies(response):
    """{name: raw value} of the response's Set-Cookie headers."""
    cookies = {}
    for header in response.headers.get_all("Set-Cookie") or ():
        name, _, value = header.split(";", 1)[0].partition("=")
        cookies[name.strip()] = value.strip()
    return cookies


def _served_variant(response):
    slug, _, key = (response.getheader(VARIANT_HEADER) or "").partition("=")
    return key if slug == EXPERIMENT_SLUG and key else None


def check_response(response, visitor, experiment_running):
    """Fail unless the response is the scenario's: the visitor's own sticky variant while
    the experiment runs, the plain page (no variant header) while it does not."""
    if response.status != 200:
        raise WrongScenario(f"{LANDING_PATH} answered {response.status}")
    served = _served_variant(response)
    expected = visitor.variant if experiment_running else None
    if served != expected:
        raise WrongScenario(f"expected variant {expected!r}, the response says {served!r}")
    if experiment_running and set(_set_cookies(response)) & set(VISITOR_COOKIES):
        raise WrongScenario("a returning visitor was given new experiment cookies")


def wait_for_scenario(port, visitors, experiment_running, timeout_seconds, needed_in_a_row):
    """Request until ``needed_in_a_row`` consecutive responses show the scenario.

    Each gunicorn worker rechecks the route-table version at most once a second, so right
    after a switch a response may still come from the previous state.
    """
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
    deadline = time.monotonic() + timeout_seconds
    in_a_row = 0
    last_problem = None
    try:
        for visitor in _cycle_until(visitors, deadline):
            try:
                check_response(_get(connection, visitor), visitor, experiment_running)
            except WrongScenario as problem:
                in_a_row, last_problem = 0, problem
                continue
            in_a_row += 1
            if in_a_row >= needed_in_a_row:
                return
    finally:
        connection.close()
    state = "running" if experiment_running else "not running"
    raise WrongScenario(f"the experiment was not served as {state} in time: {last_problem}")


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float

    @property
    def requests_per_second(self):
        return self.requests / self.seconds


def generate_load(port, visitors, experiment_running, seconds, connections):
    """``connections`` concurrent clients requesting for ``seconds``, every response checked
    against the scenario."""
    started = time.monotonic()
    deadline = started + seconds
    with ThreadPoolExecutor(max_workers=connections) as pool:
        futures = [
            # Each client starts at its own offset, so they spread over the visitors.
            pool.submit(
                _drive, port, visitors[offset:] + visitors[:offset], experiment_running, deadline
            )
            for offset in range(connections)
        ]
        completed = sum(future.result() for future in futures)
    return Load(requests=completed, seconds=time.monotonic() - started)


def _drive(port, visitors, experiment_running, deadline):
    """One client on one persistent connection; returns how many requests it completed."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
    completed = 0
    try:
        for visitor in _cycle_until(visitors, deadline):
            check_response(_get(connection, visitor), visitor, experiment_running)
            completed += 1
    finally:
        connection.close()
    return completed


def _get(connection, visitor):
    # http.client reconnects by itself when the server closed the connection
    # (gunicorn's sync workers close it after every response).
    connection.request("GET", LANDING_PATH, headers=visitor.headers())
    response = connection.getresponse()
    response.read()
    return response


def _cycle_until(visitors, deadline):
    """The visitors in turn, over and over, until the deadline."""
    if not visitors:
        raise ValueError("no visitors to send")
    while True:
        for visitor in visitors:
            if time.monotonic() >= deadline:
                return
            yield visitor
