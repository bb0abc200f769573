"""EXPOSURE_WRITES = "buffered": a new visitor's page waits for no database write, and no
counted exposure is lost silently (see ``wagtail_experiments.exposure_buffer``)."""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from wagtail_experiments import exposure_buffer, tracking
from wagtail_experiments.models import DailyRollup, Event, Exposure, GoalCompletion, Lead

from .conftest import BROWSER_UA
from .helpers import served_key
from .settings import TEST_SERVER_KEY

BUFFERED = {"SERVER_KEYS": [TEST_SERVER_KEY], "EXPOSURE_WRITES": "buffered"}
EXPOSURE_TABLES = ('"wagtail_experiments_exposure"', '"wagtail_experiments_dailyrollup"')
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def buffer(monkeypatch):
    """A fresh buffer whose thread never starts: the test flushes it (a thread's own
    connection could not see the test's transaction)."""
    fresh = exposure_buffer.ExposureBuffer()
    monkeypatch.setattr(exposure_buffer, "buffer", fresh)
    monkeypatch.setattr(fresh, "_start_flusher", lambda: None)
    with override_settings(WAGTAIL_EXPERIMENTS=BUFFERED):
        yield fresh


def new_visitor():
    """A browser with no cookie yet, served /landing/: (client, variant key)."""
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    response = client.get("/landing/")
    assert response.status_code == 200
    return client, served_key(response)


def exposure_rollup_visitors(key):
    rows = DailyRollup.objects.filter(goal=DailyRollup.EXPOSURES, variant__key=key)
    return sum(row.visitors for row in rows)


def post_event(client, event_id="e1"):
    body = {"type": "click", "experiment": "landing-hero", "goal": "cta", "id": event_id}
    return client.post("/_experiments/api/events", json.dumps(body),
                       content_type="application/json")


@pytest.mark.django_db
def test_a_new_visitors_page_writes_nothing_and_the_flush_counts_it_once(demo, buffer):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/landing/")
    key = served_key(response)
    assert key in {"control", "b", "c"}
    assert not [q["sql"] for q in captured.captured_queries
                if any(table in q["sql"] for table in EXPOSURE_TABLES)]
    assert {"wexp_vid", "wexp_asg"} <= set(response.cookies)
    assert Exposure.objects.count() == 0 and len(buffer) == 1

    assert buffer.flush() == 1
    exposure = Exposure.objects.get()
    assert (exposure.variant.key, exposure.visitor_id) == (key, client.cookies["wexp_vid"].value)
    assert exposure_rollup_visitors(key) == 1
    # The returning visitor is neither buffered nor written again.
    assert served_key(client.get("/landing/")) == key
    assert len(buffer) == 0 and buffer.flush() == 0
    assert Exposure.objects.count() == 1 and exposure_rollup_visitors(key) == 1


@pytest.mark.django_db
def test_many_visitors_are_written_in_one_flush_each_once(demo, buffer):
    served = [new_visitor()[1] for _ in range(30)]
    assert buffer.flush() == 30
    assert Exposure.objects.count() == 30
    for key in set(served):
        assert exposure_rollup_visitors(key) == served.count(key)


@pytest.mark.django_db
def test_an_event_before_the_flush_stores_the_exposure_and_is_attributed(demo, buffer):
    client, key = new_visitor()
    assert post_event(client).status_code == 202
    assert Event.objects.get().variant.key == key
    assert Exposure.objects.get().variant.key == key
    # The flush that follows finds the visitor counted already: no second visitor.
    buffer.flush()
    assert Exposure.objects.count() == 1 and exposure_rollup_visitors(key) == 1


@pytest.mark.django_db
def test_a_batch_of_events_before_the_flush_is_attributed(demo, buffer):
    client, key = new_visitor()
    events = [{"type": "click", "experiment": "landing-hero", "goal": "cta", "id": f"e{n}"}
              for n in range(2)]
    response = client.post("/_experiments/api/events", json.dumps({"events": events}),
                           content_type="application/json")
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert {event.variant.key for event in Event.objects.all()} == {key}
    buffer.flush()
    assert exposure_rollup_visitors(key) == 1


@pytest.mark.django_db
def test_a_lost_exposure_is_restored_from_the_signed_cookie_by_the_event(demo, buffer):
    client, key = new_visitor()
    buffer._pending.clear()  # what a killed worker loses
    assert post_event(client).status_code == 202
    assert Event.objects.get().variant.key == key
    assert exposure_rollup_visitors(key) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["json", "html"])
def test_a_lead_before_the_flush_is_attributed(demo, buffer, path):
    client, key = new_visitor()
    data = {"name": "Ada Lovelace", "email": "ada@example.com"}
    if path == "json":
        body = {"form": "demo-lead", "data": data}
        response = client.post("/_experiments/api/leads", json.dumps(body),
                               content_type="application/json")
        assert response.status_code == 201
    else:
        response = client.post("/landing/", {"wexp_lead_form": "demo-lead", **data})
        assert response.status_code == 302
    lead = Lead.objects.get()
    assert [variant.key for variant in lead.variants.all()] == [key]
    assert GoalCompletion.objects.get(goal="lead").variant.key == key
    buffer.flush()
    assert Exposure.objects.count() == 1 and exposure_rollup_visitors(key) == 1


@pytest.mark.django_db
def test_a_forged_or_foreign_cookie_restores_nothing(demo, buffer):
    client, _ = new_visitor()
    buffer._pending.clear()
    stranger = Client(HTTP_USER_AGENT=BROWSER_UA)
    stranger.cookies["wexp_vid"] = "V" * 21  # someone else's id, without their signed cookie
    stranger.cookies["wexp_asg"] = client.cookies["wexp_asg"].value
    assert post_event(stranger).json()["rejected"]
    assert Exposure.objects.count() == 0 and Event.objects.count() == 0


@pytest.mark.django_db
def test_immediate_writes_stay_the_default(demo):
    _, key = new_visitor()
    assert Exposure.objects.get().variant.key == key
    assert len(exposure_buffer.buffer) == 0


@pytest.mark.django_db
def test_a_refused_flush_keeps_the_batch_for_the_next_attempt(demo, buffer, monkeypatch):
    first = new_visitor()[1]
    real = tracking.record_exposures

    def refuse(batch):
        raise OperationalError("lock timeout")

    monkeypatch.setattr(tracking, "record_exposures", refuse)
    with pytest.raises(OperationalError):
        buffer.flush()
    second = new_visitor()[1]
    assert len(buffer) == 2 and Exposure.objects.count() == 0
    monkeypatch.setattr(tracking, "record_exposures", real)
    assert buffer.flush() == 2
    assert sorted(Exposure.objects.values_list("variant__key", flat=True)) == sorted(
        [first, second])


@pytest.mark.django_db
def test_a_full_buffer_drops_the_oldest_and_says_how_many(demo, buffer, caplog):
    with override_settings(WAGTAIL_EXPERIMENTS={**BUFFERED, "EXPOSURE_BUFFER_LIMIT": 3}):
        clients = [new_visitor()[0] for _ in range(5)]
    assert len(buffer) == 3 and buffer.dropped == 2
    # The first loss at once; later ones summed up, not a line per visitor.
    assert re.findall(r"Lost (\d+) buffered exposures", caplog.text) == ["1"]
    buffer.flush()
    assert re.findall(r"Lost (\d+) buffered exposures", caplog.text) == ["1", "1"]
    visitor_ids = [client.cookies["wexp_vid"].value for client in clients]
    assert not any(visitor_id in caplog.text for visitor_id in visitor_ids)
    assert set(Exposure.objects.values_list("visitor_id", flat=True)) == set(visitor_ids[2:])


def test_a_forked_worker_does_not_write_its_parents_buffer(monkeypatch):
    shared = exposure_buffer.buffer  # the process's own: its fork hook is registered
    monkeypatch.setattr(shared, "_start_flusher", lambda: None)
    shared.add(object())
    shared._lock.acquire()  # as if the parent's thread held it as gunicorn forked
    try:
        child = os.fork()
        if child == 0:  # the worker: an empty buffer and a lock of its own
            acquired = shared._lock.acquire(timeout=2)
            os._exit(0 if acquired and len(shared) == 0 else 1)
    finally:
        shared._lock.release()
    assert os.waitpid(child, 0)[1] == 0
    assert len(shared) == 1  # the parent still holds its own
    shared._pending.clear()


@pytest.mark.django_db(transaction=True)
def test_the_background_thread_writes_within_the_interval(demo, monkeypatch):
    fresh = exposure_buffer.ExposureBuffer()
    monkeypatch.setattr(exposure_buffer, "buffer", fresh)
    settings = {**BUFFERED, "EXPOSURE_FLUSH_SECONDS": 0.05}
    with override_settings(WAGTAIL_EXPERIMENTS=settings):
        _, key = new_visitor()
        deadline = time.monotonic() + 10
        while not Exposure.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert Exposure.objects.get().variant.key == key
    thread = fresh._thread
    assert thread.name == "wagtail-experiments-exposures" and thread.daemon
    fresh.stop()  # which closes the thread's own connection to the test database
    assert not thread.is_alive()


SERVE_THEN_EXIT = textwrap.dedent("""
    import os, signal, sys
    import django
    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment
    setup_test_environment()
    from wagtail_experiments import exposure_buffer
    # Only the exit may write: the thread sleeps for an hour.
    client = Client(HTTP_USER_AGENT=sys.argv[2])
    response = client.get("/landing/")
    print(response.cookies["wexp_vid"].value, response.headers["X-Experiment-Variant"],
          response.cookies["wexp_asg"].value, len(exposure_buffer.buffer), flush=True)
    if sys.argv[1] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
""")


def run_worker(tmp_path, how, db_settings):
    """Serve one new visitor in a separate process using the test database, then exit
    (gracefully or by SIGKILL): its printed (visitor id, variant header, cookie, buffered)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.buffered_worker_settings",
        "WEXP_WORKER_DB": json.dumps(db_settings),
        "PYTHONPATH": str(REPO),
    }
    script = tmp_path / "worker.py"
    script.write_text(SERVE_THEN_EXIT)
    done = subprocess.run([sys.executable, str(script), how, BROWSER_UA], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    if how == "kill":
        assert done.returncode == -signal.SIGKILL, done.stderr
    else:
        assert done.returncode == 0, done.stderr
    visitor_id, header, cookie, buffered = done.stdout.split()
    assert buffered == "1"
    return visitor_id, header.split("=", 1)[1], cookie


def worker_database():
    """The live test database's settings, for a process of its own."""
    settings = dict(connection.settings_dict)
    settings["NAME"] = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory SQLite database is invisible to another process")
    return {key: value for key, value in settings.items()
            if key in {"ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT"}}


@pytest.mark.django_db(transaction=True)
def test_a_graceful_exit_writes_what_is_buffered(demo, tmp_path):
    visitor_id, key, _ = run_worker(tmp_path, "exit", worker_database())
    assert Exposure.objects.get(visitor_id=visitor_id).variant.key == key
    assert exposure_rollup_visitors(key) == 1


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_loses_only_exposures_whose_visitor_never_converts(demo, tmp_path):
    visitor_id, key, cookie = run_worker(tmp_path, "kill", worker_database())
    assert not Exposure.objects.exists()
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_id
    client.cookies["wexp_asg"] = cookie
    with override_settings(WAGTAIL_EXPERIMENTS=BUFFERED):
        assert post_event(client).status_code == 202
    assert Event.objects.get().variant.key == key
    assert Exposure.objects.get(visitor_id=visitor_id).variant.key == key


@pytest.mark.django_db
def test_errors_of_the_thread_are_logged_and_retried(demo, monkeypatch, caplog):
    fresh = exposure_buffer.ExposureBuffer()
    attempts = []

    def flush():
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise OperationalError("the database is down")
        raise SystemExit  # ends the loop of this test

    monkeypatch.setattr(fresh, "flush", flush)
    monkeypatch.setattr(exposure_buffer, "RETRY_SECONDS", 0.01)
    with override_settings(WAGTAIL_EXPERIMENTS={**BUFFERED, "EXPOSURE_FLUSH_SECONDS": 0}):
        caplog.set_level(logging.ERROR)
        with pytest.raises(SystemExit):
            fresh._run()
    assert len(attempts) == 2
    assert "Could not write" in caplog.text and "trying again" in caplog.text


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"EXPOSURE_WRITES": "bufferd"}, ["wagtail_experiments.E001"]),
        ({"EXPOSURE_MODE": "browser"}, ["wagtail_experiments.E001"]),
        ({"EXPOSURE_WRITES": "buffered", "EXPOSURE_MODE": "client"},
         ["wagtail_experiments.W001"]),
        ({"EXPOSURE_WRITES": "buffered", "EXPOSURE_FLUSH_SECONDS": 0},
         ["wagtail_experiments.E002"]),
        ({"EXPOSURE_WRITES": "buffered"}, []),
    ],
)
def test_a_mistyped_setting_is_reported_at_startup(settings, expected):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    from wagtail_experiments.checks import check_settings

    with override_settings(WAGTAIL_EXPERIMENTS=settings):
        assert [problem.id for problem in check_settings()] == expected
        if any(id_.endswith("E001") or id_.endswith("E002") for id_ in expected):
            with pytest.raises(SystemCheckError):
                call_command("check")


@pytest.mark.django_db(transaction=True)
def test_a_request_writes_the_buffer_when_no_thread_runs(demo, buffer, monkeypatch):
    # As under uWSGI without enable-threads: the thread never starts (the fixture), so the
    # first request after STALLED_SECONDS without a write attempt writes the buffer.
    new_visitor()
    assert Exposure.objects.count() == 0
    monkeypatch.setattr(exposure_buffer, "STALLED_SECONDS", 0.0)
    time.sleep(0.01)
    new_visitor()
    assert Exposure.objects.count() == 2 and len(buffer) == 0


@pytest.mark.django_db
def test_a_request_inside_a_transaction_leaves_the_buffer_alone(demo, buffer, monkeypatch):
    # ATOMIC_REQUESTS (as this test's own transaction): a rollback would lose the batch.
    new_visitor()
    monkeypatch.setattr(exposure_buffer, "STALLED_SECONDS", 0.0)
    time.sleep(0.01)
    new_visitor()
    assert Exposure.objects.count() == 0 and len(buffer) == 2


@pytest.mark.django_db(transaction=True)
def test_a_stalled_write_that_fails_never_breaks_the_page(demo, buffer, monkeypatch, caplog):
    monkeypatch.setattr(exposure_buffer, "STALLED_SECONDS", 0.0)

    def refuse(batch):
        raise OperationalError("the database is down")

    monkeypatch.setattr(tracking, "record_exposures", refuse)
    new_visitor()
    time.sleep(0.01)
    new_visitor()  # status 200 (new_visitor checks it)
    assert len(buffer) == 2 and "Could not write" in caplog.text


@pytest.mark.django_db
def test_a_goal_page_before_the_flush_is_attributed(demo, buffer):
    from sandbox_site.home.models import LandingPage

    thanks = demo.control_page.get_parent().add_child(
        instance=LandingPage(title="Thanks", slug="thanks"))
    thanks.save_revision().publish()
    demo.goal_page = thanks
    demo.primary_goal = "signup"
    demo.save()
    client, key = new_visitor()
    assert client.get("/thanks/").status_code == 200
    assert list(Event.objects.values_list("goal", "variant__key")) == [("signup", key)]
    buffer.flush()
    assert exposure_rollup_visitors(key) == 1


@pytest.mark.django_db
def test_a_restored_exposure_keeps_its_utm_values_and_time(demo, buffer):
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    key = served_key(client.get("/landing/?utm_source=newsletter&utm_campaign=spring"))
    served_at = buffer._pending[0].created_at
    assert post_event(client).status_code == 202
    exposure = Exposure.objects.get()
    assert (exposure.variant.key, exposure.utm_source, exposure.utm_campaign) == (
        key, "newsletter", "spring")
    assert exposure.created_at == served_at and len(buffer) == 0
    assert Event.objects.get().utm_source == "newsletter"


@pytest.mark.django_db
def test_an_old_cookie_restores_nothing(demo, buffer, monkeypatch):
    client, _ = new_visitor()
    buffer._pending.clear()
    monkeypatch.setattr(exposure_buffer, "RESTORE_SECONDS", -1)  # signed too long ago
    assert post_event(client).json()["rejected"]
    assert not Exposure.objects.exists() and not Event.objects.exists()


@pytest.mark.django_db
def test_an_erased_visitor_is_not_written_later(demo, buffer):
    from wagtail_experiments.privacy import erase_person

    client, _ = new_visitor()
    other, _ = new_visitor()
    erase_person(visitor_ids=[client.cookies["wexp_vid"].value])
    assert buffer.flush() == 1
    assert Exposure.objects.get().visitor_id == other.cookies["wexp_vid"].value


@pytest.mark.django_db
def test_exposures_of_a_deleted_variant_do_not_hold_up_the_others(demo, buffer, caplog):
    client, _ = new_visitor()
    gone = tracking.new_exposure(experiment_id=demo.pk, variant_id=10**9, visitor_id="G" * 21)
    buffer.add(gone)
    assert buffer.flush() == 2
    assert Exposure.objects.get().visitor_id == client.cookies["wexp_vid"].value
    assert "Dropped 1 buffered exposures of deleted variants" in caplog.text
    assert len(buffer) == 0


@pytest.mark.django_db
def test_client_exposure_mode_is_never_buffered(demo, buffer):
    with override_settings(WAGTAIL_EXPERIMENTS={**BUFFERED, "EXPOSURE_MODE": "client"}):
        new_visitor()
    assert len(buffer) == 0 and not Exposure.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_event_racing_the_flush_is_attributed(demo, monkeypatch):
    """The thread's batch holds the visitor's row, uncommitted, as their event arrives: the
    event's restoring write waits, finds the row, and the event is stored against it."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks between writers need PostgreSQL (run with DATABASE_URL=...)")
    from django.db import connections, transaction

    fresh = exposure_buffer.ExposureBuffer()
    monkeypatch.setattr(exposure_buffer, "buffer", fresh)
    monkeypatch.setattr(fresh, "_start_flusher", lambda: None)
    with override_settings(WAGTAIL_EXPERIMENTS=BUFFERED):
        client, key = new_visitor()
        batch = list(fresh._pending)
        fresh._pending.clear()  # in the thread's hands now
        holding, done = threading.Event(), threading.Event()

        def flusher():
            try:
                with transaction.atomic():
                    tracking.record_exposures(batch)
                    holding.set()
                    time.sleep(0.3)  # inside the lock timeout of the event's write
            finally:
                connections.close_all()
                done.set()

        threading.Thread(target=flusher).start()
        assert holding.wait(10)
        response = post_event(client)
        assert done.wait(10)
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert Event.objects.get().variant.key == key
    assert exposure_rollup_visitors(key) == 1
