"""The one-statement tracking writes on PostgreSQL: planned once per database session, still
stored exactly once when a session loses its prepared statement (a pooler, a DEALLOCATE) or
already holds it, and committed without waiting for the disk unless the write is a lead's
or ``TRACKING_SYNCHRONOUS_COMMIT`` asks for it.

PostgreSQL only: prepared statements and ``synchronous_commit`` are PostgreSQL's.
"""

import json

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from wagtail_experiments import prepared, single_event, single_exposure
from wagtail_experiments.models import DailyRollup, Event, Exposure, Lead
from wagtail_experiments.sql import tracking_transaction

from .helpers import exposed_visitor

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="prepared statements are PostgreSQL's (run with DATABASE_URL=postgres://...)",
    ),
]

API = "/_experiments/api"


def post_click(client, event_id):
    body = {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": event_id}
    response = client.post(f"{API}/events", json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.content
    return response.json()


def event_statement():
    return single_event._statements[connection.alias]


def forget_sessions(statement):
    """As a new process sharing a pooled session would: it has not prepared anything."""
    statement._sessions.clear()


def posted_sql(client, event_id):
    with CaptureQueriesContext(connection) as queries:
        answer = post_click(client, event_id)
    assert len(queries) == 1, [query["sql"][:80] for query in queries]
    return answer, queries[0]["sql"]


def test_a_session_plans_the_event_statement_once(demo):
    client = exposed_visitor(demo)
    post_click(client, "warm")
    forget_sessions(event_statement())
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")

    answer, first = posted_sql(client, "e1")
    assert answer["accepted"] == 1
    assert f"PREPARE {event_statement().name}" in first
    answer, second = posted_sql(client, "e2")
    assert answer["accepted"] == 1
    assert second.lstrip().startswith("SELECT set_config(")
    assert f"EXECUTE {event_statement().name}" in second and "INSERT" not in second
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = %s",
                       [event_statement().name])
        assert cursor.fetchone()[0] == 1
    rollup = DailyRollup.objects.get(goal="cta")
    assert (rollup.visitors, rollup.events) == (1, 3)


def test_a_session_that_lost_the_statement_writes_plainly_and_once(demo):
    """PgBouncer in transaction mode (or a DEALLOCATE): the EXECUTE finds no statement.
    The event is stored once, by the plain statement, which this session keeps using."""
    client = exposed_visitor(demo)
    post_click(client, "warm")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")

    with CaptureQueriesContext(connection) as queries:
        assert post_click(client, "e1")["accepted"] == 1
    assert len(queries) == 2  # the EXECUTE that failed, then the plain statement
    assert "EXECUTE" in queries[0]["sql"]
    assert "INSERT INTO" in queries[1]["sql"] and "PREPARE" not in queries[1]["sql"]
    answer, later = posted_sql(client, "e2")
    assert answer["accepted"] == 1 and "PREPARE" not in later and "EXECUTE" not in later
    assert post_click(client, "e2") == {"accepted": 0, "duplicates": 1, "rejected": []}
    assert Event.objects.filter(event_id__in=["e1", "e2"]).count() == 2
    assert DailyRollup.objects.get(goal="cta").events == 3


def test_a_session_that_already_holds_the_statement_executes_it(demo):
    """Prepared by an attempt whose outcome this process did not see, or by another process
    on a pooled session: PREPARE fails (42P05), nothing is stored by it, and the EXECUTE
    stores the event once."""
    client = exposed_visitor(demo)
    post_click(client, "warm")
    forget_sessions(event_statement())

    with CaptureQueriesContext(connection) as queries:
        assert post_click(client, "e1")["accepted"] == 1
    assert len(queries) == 2
    assert "PREPARE" in queries[0]["sql"]
    assert "PREPARE" not in queries[1]["sql"] and "EXECUTE" in queries[1]["sql"]
    assert Event.objects.filter(event_id="e1").count() == 1
    assert DailyRollup.objects.get(goal="cta").events == 2


def test_a_new_visitors_exposure_is_planned_once_too(demo):
    exposed_visitor(demo, "b")
    forget_sessions(single_exposure._statements[connection.alias])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    exposed_visitor(demo, "c")
    with CaptureQueriesContext(connection) as queries:
        exposed_visitor(demo, "control")
    name = single_exposure._statements[connection.alias].name
    writes = [query["sql"] for query in queries if name in query["sql"]]
    assert len(writes) == 1 and "PREPARE" not in writes[0]
    assert Exposure.objects.filter(experiment=demo).count() == 3
    rollups = DailyRollup.objects.filter(experiment=demo, goal=DailyRollup.EXPOSURES)
    assert sorted(r.variant.key for r in rollups) == ["b", "c", "control"]


def test_placeholders_are_numbered_and_escaped_percent_signs_kept():
    statement = prepared.PreparedWrite(
        "wexp_test", "SELECT %s::int, '100%%', %s::text", ["integer", "text"]
    )
    assert "AS SELECT $1::int, '100%%', $2::text;" in statement._prepare
    assert statement._execute == f"EXECUTE {statement.name} (%s, %s)"
    with pytest.raises(ValueError):
        prepared.PreparedWrite("wexp_test", "SELECT %s", [])


def synchronous_commit_in(context):
    with context, connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_tracking_transactions_commit_without_waiting_but_leads_and_callers_wait():
    assert synchronous_commit_in(tracking_transaction(Event)) == "off"
    assert synchronous_commit_in(tracking_transaction(Lead, synchronous_commit=True)) == "on"
    with override_settings(WAGTAIL_EXPERIMENTS={"TRACKING_SYNCHRONOUS_COMMIT": True}):
        assert synchronous_commit_in(tracking_transaction(Event)) == "on"
    # Inside a site's own transaction, its commit is never changed.
    with transaction.atomic():
        assert synchronous_commit_in(tracking_transaction(Event)) == "on"
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
    # Nor with autocommit turned off: that transaction is the site's too.
    transaction.set_autocommit(False)
    try:
        assert synchronous_commit_in(tracking_transaction(Event)) == "on"
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"  # the session's own setting never moved


def test_a_single_event_commits_without_waiting_unless_asked(demo):
    client = exposed_visitor(demo)
    _answer, sql = posted_sql(client, "e1")
    assert "set_config('synchronous_commit', 'off', true)" in sql
    with override_settings(WAGTAIL_EXPERIMENTS={"TRACKING_SYNCHRONOUS_COMMIT": True}):
        _answer, sql = posted_sql(client, "e2")
    assert "synchronous_commit" not in sql
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


def test_a_lead_always_waits_for_its_commit(demo):
    client = exposed_visitor(demo)
    lead = {"form": "demo-lead", "data": {"name": "Ada Lovelace", "email": "ada@example.com"}}
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"{API}/leads", json.dumps(lead),
                               content_type="application/json")
    assert response.status_code == 201, response.content
    assert Lead.objects.count() == 1
    assert not [q["sql"] for q in queries if "synchronous_commit" in q["sql"]]
