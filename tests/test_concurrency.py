"""Concurrent clients against a real (threaded) server on PostgreSQL: nothing lost, nothing
counted twice. SQLite serialises writers, so these only mean something on PostgreSQL."""

import json
import random
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db.models import Sum
from django.test.utils import override_settings

from wagtail_experiments.assignment import new_visitor_id
from wagtail_experiments.models import (
    DailyRollup,
    Event,
    Experiment,
    Exposure,
    Goal,
    GoalCompletion,
    Lead,
)

from .conftest import BROWSER_UA

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="concurrent writers need PostgreSQL (run with DATABASE_URL=postgres://...)",
    ),
]

CLIENTS = 8
NO_RATE_LIMIT = override_settings(WAGTAIL_EXPERIMENTS={"API_RATE_LIMIT": None})


@pytest.fixture
def site(live_server):
    from sandbox_site.home.demo import load_demo_content

    load_demo_content()
    return live_server


def request(url, *, visitor_id, body=None):
    headers = {"User-Agent": BROWSER_UA, "Cookie": f"wexp_vid={visitor_id}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=60) as reply:
        return reply.status, reply.read()


def expose(site, visitor_ids):
    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(
            lambda vid: request(f"{site.url}/landing/", visitor_id=vid)[0], visitor_ids
        ))
    assert statuses == [200] * len(visitor_ids)
    assert Exposure.objects.count() == len(visitor_ids)


@NO_RATE_LIMIT
def test_20000_events_with_replays_from_concurrent_clients(site):
    demo = Experiment.objects.get(slug="landing-hero")
    for n in range(5):
        demo.goals.add(Goal(name=f"goal-{n}", max_value=1))
    demo.save()
    visitors = [new_visitor_id() for _ in range(50)]
    expose(site, visitors)
    rng = random.Random(2026)
    batches = []
    for visitor_id in visitors:
        events = [
            {"type": "click", "experiment": "landing-hero", "goal": f"goal-{n % 5}",
             "id": f"{visitor_id}-{n}", "value": 1}
            for n in range(400)
        ]
        batches += [(visitor_id, events[start:start + 100]) for start in range(0, 400, 100)]
        batches.append((visitor_id, rng.sample(events, 40)))  # 10 % replayed ids
    rng.shuffle(batches)  # replays race their originals

    def send(batch):
        visitor_id, events = batch
        status, body = request(
            f"{site.url}/_experiments/api/events", visitor_id=visitor_id, body={"events": events}
        )
        assert status == 202
        return json.loads(body)

    with ThreadPoolExecutor(CLIENTS) as pool:
        replies = list(pool.map(send, batches))

    assert sum(reply["accepted"] for reply in replies) == 20_000
    assert sum(reply["duplicates"] for reply in replies) == 2_000
    assert not any(reply["rejected"] for reply in replies)
    assert Event.objects.count() == 20_000
    assert GoalCompletion.objects.count() == 50 * 5
    rollups = DailyRollup.objects.exclude(goal="").aggregate(
        visitors=Sum("visitors"), events=Sum("events"), value=Sum("value_sum"),
        squares=Sum("value_sq_sum"),
    )
    # Each visitor's total of each goal is 80: the sum of squared totals is 250 x 80².
    assert rollups == {"visitors": 250, "events": 20_000, "value": 20_000.0,
                       "squares": 250 * 80.0**2}
    assert set(GoalCompletion.objects.values_list("value_total", flat=True)) == {80.0}


@NO_RATE_LIMIT
def test_concurrent_single_valued_events_keep_exact_visitor_totals(site):
    """One event per request (on PostgreSQL, the one-statement write): 20 visitors send 20
    purchases of 2.5 each, all at once; every running total and the sum of squares of the
    totals come out exact."""
    visitors = [new_visitor_id() for _ in range(20)]
    expose(site, visitors)
    sends = [(visitor_id, n) for visitor_id in visitors for n in range(20)]
    random.Random(7).shuffle(sends)

    def send(item):
        visitor_id, n = item
        status, _ = request(
            f"{site.url}/_experiments/api/events", visitor_id=visitor_id,
            body={"events": [{"type": "conversion", "experiment": "landing-hero",
                              "goal": "purchase", "id": f"p-{n}", "value": 2.5}]},
        )
        return status

    with ThreadPoolExecutor(CLIENTS) as pool:
        assert set(pool.map(send, sends)) == {202}
    assert set(GoalCompletion.objects.filter(goal="purchase")
               .values_list("value_total", flat=True)) == {50.0}
    rollups = DailyRollup.objects.filter(goal="purchase").aggregate(
        visitors=Sum("visitors"), value=Sum("value_sum"), squares=Sum("value_sq_sum"))
    assert rollups == {"visitors": 20, "value": 1000.0, "squares": 20 * 50.0**2}


@NO_RATE_LIMIT
def test_500_concurrent_lead_submissions(site):
    visitors = [new_visitor_id() for _ in range(250)]
    expose(site, visitors)
    submissions = [
        (visitor_id, {"form": "demo-lead", "data": {"name": f"P{n}-{attempt}",
                                                    "email": f"p{n}@example.com"}})
        for n, visitor_id in enumerate(visitors)
        for attempt in range(2)  # everyone submits twice, at the same time
    ]
    random.Random(7).shuffle(submissions)

    def submit(submission):
        visitor_id, body = submission
        status, reply = request(f"{site.url}/_experiments/api/leads", visitor_id=visitor_id,
                                   body=body)
        assert status == 201
        return json.loads(reply)["id"]

    with ThreadPoolExecutor(CLIENTS * 2) as pool:
        lead_ids = list(pool.map(submit, submissions))

    assert len(set(lead_ids)) == Lead.objects.count() == 500
    assert Event.objects.filter(type="conversion", goal="lead").count() == 500
    assert GoalCompletion.objects.filter(goal="lead").count() == 250  # once per visitor
    lead_rollup = DailyRollup.objects.filter(goal="lead").aggregate(
        visitors=Sum("visitors"), events=Sum("events")
    )
    assert lead_rollup == {"visitors": 250, "events": 500}
    exposures = DailyRollup.objects.filter(goal="").aggregate(visitors=Sum("visitors"))
    assert exposures == {"visitors": 250}
    assert all(lead.variants.count() == 1 for lead in Lead.objects.prefetch_related("variants"))
