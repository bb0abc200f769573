"""A slow or locked database never stalls a page for longer than the tracking bound, and the
API answers it with its JSON error: nothing is reported as stored that was not.

PostgreSQL only: another connection holds a lock on a tracking table while requests run.
"""

import json
import logging
import threading
import time

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import override_settings

from wagtail_experiments.models import Event, Exposure, Lead

from .conftest import BROWSER_UA
from .helpers import served_heading, visitor_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="lock and statement timeouts are PostgreSQL's (run with DATABASE_URL=postgres://...)",
    ),
]

API = "/_experiments/api"
BOUND_MS = 300
# Far longer than the bound: a request that waited for the lock would take this long.
LOCK_SECONDS = 20
TRACKING = {"TRACKING_DB_TIMEOUT_MS": BOUND_MS}

class TableLock:
    """Another connection holding ``LOCK TABLE … IN ACCESS EXCLUSIVE MODE`` (as a slow
    migration or a long maintenance job would) until released."""

    def __init__(self, *tables):
        import psycopg

        params = connection.settings_dict
        self.connect = lambda: psycopg.connect(
            host=params["HOST"] or None, port=params["PORT"] or None, user=params["USER"],
            password=params["PASSWORD"] or None, dbname=params["NAME"], autocommit=True,
        )
        self.connection = self.connect()
        self.tables = tables

    def _end_it(self):
        """Ends the locking session from outside, should a request wait for it."""
        with self.connect() as other:
            other.execute("SELECT pg_terminate_backend(%s)", [self.connection.info.backend_pid])

    def __enter__(self):
        cursor = self.connection.cursor()
        cursor.execute("BEGIN")
        for table in self.tables:
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        # A safety net: the lock goes away by itself should a request wait for it.
        self.timer = threading.Timer(LOCK_SECONDS, self._end_it)
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()
        self.connection.close()  # ends the transaction, and the lock

def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started

@override_settings(WAGTAIL_EXPERIMENTS=TRACKING)
def test_a_locked_exposure_table_leaves_a_new_visitors_page_within_the_bound(demo, caplog):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(demo, "b")
    client.get("/")  # warm Wagtail's caches and the route table
    with TableLock(Exposure._meta.db_table), caplog.at_level(logging.ERROR):
        response, seconds = timed(lambda: client.get("/landing/"))
    assert response.status_code == 200 and served_heading(response) == "b"
    assert seconds < LOCK_SECONDS / 4  # gave up after the bound, not after the lock
    assert "Could not record an exposure" in caplog.text
    assert not Exposure.objects.filter(experiment=demo).exists()
    # Not marked as counted: the next view records the exposure.
    client.get("/landing/")
    assert Exposure.objects.get(experiment=demo).variant.key == "b"

@override_settings(WAGTAIL_EXPERIMENTS=TRACKING)
def test_events_and_leads_answer_a_locked_database_with_a_json_503(demo, caplog):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    visitor_id = visitor_in(demo, "b")
    client.cookies["wexp_vid"] = visitor_id
    client.get("/landing/")
    event = {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "e1"}
    lead = {"form": "demo-lead", "data": {"name": "Ada Lovelace", "email": "ada@x.test"}}
    with TableLock(Exposure._meta.db_table), caplog.at_level(logging.INFO):
        for url, body in ((f"{API}/events", event), (f"{API}/leads", lead)):
            response, seconds = timed(lambda url=url, body=body: client.post(
                url, json.dumps(body), content_type="application/json"))
            assert response.status_code == 503, response.content
            assert response["Content-Type"] == "application/json; charset=utf-8"
            assert response["Retry-After"] == "5"
            assert "nothing was stored" in response.json()["detail"]
            assert seconds < LOCK_SECONDS / 4
        # The HTML form shows the form again, with its data, and says nothing was sent.
        html = client.post("/landing/", {"wexp_lead_form": "demo-lead", "name": "Ada Lovelace",
                                         "email": "ada@x.test"})
        assert html.status_code == 503
        assert "could not be sent just now" in html.content.decode()
        assert 'value="ada@x.test"' in html.content.decode()
    assert not Event.objects.exists() and not Lead.objects.exists()
    # Nothing the visitor submitted reaches the logs.
    assert "ada@x.test" not in caplog.text and "Lovelace" not in caplog.text
    # Once the lock is gone, the same requests are stored.
    response = client.post(f"{API}/events", json.dumps(event), content_type="application/json")
    assert response.status_code == 202 and Event.objects.count() == 1

@override_settings(WAGTAIL_EXPERIMENTS=TRACKING)
def test_returning_visitors_never_touch_the_locked_table(demo):
    """The signed assignment cookie says the exposure is recorded: no query waits."""
    visitor_id = visitor_in(demo, "c")
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_id
    client.get("/landing/")
    assert Exposure.objects.filter(visitor_id=visitor_id).exists()
    with TableLock(Exposure._meta.db_table, Event._meta.db_table):
        response, seconds = timed(lambda: client.get("/landing/"))
    assert served_heading(response) == "c"
    assert seconds < 1.0 * LOCK_SECONDS / 4

def test_the_bound_is_undone_for_the_rest_of_a_transaction(demo):
    """Inside an outer transaction (ATOMIC_REQUESTS, a caller's own atomic block) the bound
    applies to the tracking write only."""
    from django.db import transaction

    from wagtail_experiments.sql import bounded_transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        before = cursor.fetchone()[0]
        with bounded_transaction(Exposure, 123):
            cursor.execute("SHOW lock_timeout")
            assert cursor.fetchone()[0] == "123ms"
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == before


def test_a_locked_rate_counter_table_lets_requests_through_quickly(demo, tmp_path):
    """With a cache that cannot count atomically the database counts requests: a lock on
    its counters lets the request through after the bound rather than holding it up."""
    from wagtail_experiments.models import RateCounter

    caches = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(tmp_path)}}
    with override_settings(CACHES=caches, WAGTAIL_EXPERIMENTS=TRACKING):
        client = Client(HTTP_USER_AGENT=BROWSER_UA)
        client.cookies["wexp_vid"] = visitor_in(demo, "b")
        client.get("/landing/")
        event = {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "e1"}
        with TableLock(RateCounter._meta.db_table):
            response, seconds = timed(lambda: client.post(
                f"{API}/events", json.dumps(event), content_type="application/json"))
    assert response.status_code == 202
    assert seconds < LOCK_SECONDS / 4


@override_settings(WAGTAIL_EXPERIMENTS=TRACKING)
def test_a_single_event_is_one_round_trip_and_all_or_nothing(demo):
    """The tracker's commonest write: exposure lookup, event, first completion and rollup
    in one query string, bounded by its own implicit transaction. A lock on the rollups
    alone makes the whole write give up: no event is stored without its rollup."""
    from django.test.utils import CaptureQueriesContext

    from wagtail_experiments.models import DailyRollup, GoalCompletion

    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(demo, "b")
    client.get("/landing/")
    event = {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": "e1"}

    def post(body):
        return client.post(f"{API}/events", json.dumps(body), content_type="application/json")

    with TableLock(DailyRollup._meta.db_table):
        response, seconds = timed(lambda: post(event))
    assert response.status_code == 503 and seconds < LOCK_SECONDS / 4
    assert not Event.objects.exists() and not GoalCompletion.objects.exists()

    with CaptureQueriesContext(connection) as queries:
        assert post(event).json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert len(queries) == 1, [query["sql"][:80] for query in queries]
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] != f"{BOUND_MS}ms"  # the bound ended with it
    assert post(event).json() == {"accepted": 0, "duplicates": 1, "rejected": []}
    rollup = DailyRollup.objects.get(goal="cta")
    assert (rollup.variant.key, rollup.visitors, rollup.events) == ("b", 1, 1)
    assert GoalCompletion.objects.get().variant.key == "b"


@override_settings(WAGTAIL_EXPERIMENTS=TRACKING)
def test_a_new_visitors_exposure_is_one_round_trip_and_all_or_nothing(demo, caplog):
    """A first view's write: exposure and its rollup in one bounded query string. A lock on
    the rollups alone leaves the page served within the bound and nothing stored; later the
    exposure is stored once, rolled up once, and a second write answers the stored variant."""
    from django.test.utils import CaptureQueriesContext

    from wagtail_experiments import tracking
    from wagtail_experiments.models import DailyRollup

    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(demo, "b")
    client.get("/")  # warm Wagtail's caches and the route table
    with TableLock(DailyRollup._meta.db_table), caplog.at_level(logging.ERROR):
        response, seconds = timed(lambda: client.get("/landing/"))
    assert response.status_code == 200 and served_heading(response) == "b"
    assert seconds < LOCK_SECONDS / 4
    assert not Exposure.objects.filter(experiment=demo).exists()  # none without its rollup

    with CaptureQueriesContext(connection) as queries:
        assert served_heading(client.get("/landing/")) == "b"
    writes = [q["sql"] for q in queries
              if any(word in q["sql"] for word in ("INSERT", "SAVEPOINT", "EXECUTE"))]
    # single_exposure's statement: prepared with this write, or by an earlier one.
    assert len(writes) == 1 and "wexp_exposure_" in writes[0], writes
    exposure = Exposure.objects.get(experiment=demo)
    rollup = DailyRollup.objects.get(experiment=demo, goal=DailyRollup.EXPOSURES)
    assert (rollup.variant.key, rollup.visitors, rollup.events) == ("b", 1, 1)
    # Already counted: nothing moves, and the stored variant wins over the one asked for.
    control = demo.variants.get(key="control")
    assert tracking.record_exposure(
        experiment_id=demo.pk, variant_id=control.pk, visitor_id=exposure.visitor_id
    ) == exposure.variant_id
    assert Exposure.objects.filter(experiment=demo).count() == 1
    assert DailyRollup.objects.get(experiment=demo, goal=DailyRollup.EXPOSURES).visitors == 1
