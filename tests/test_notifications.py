"""Notifications: each verdict, split alarm and scheduled end is told once, by e-mail to
the creator and the experiment's list, and to the site's webhook, from the scheduled task."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.test.utils import override_settings
from django.utils import timezone

from wagtail_experiments.models import ExperimentNotification
from wagtail_experiments.schedule import run_experiment_schedule

from .helpers import days_ago, seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook():
    """A real HTTP endpoint on a loopback port; yields (url, [received JSON bodies])."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append((self.headers["Content-Type"], json.loads(self.rfile.read(length))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


@pytest.fixture
def owned(seeded_stats, admin_user):
    admin_user.email = "owner@example.com"
    admin_user.save()
    seeded_stats.created_by = admin_user
    seeded_stats.notify_emails = "analyst@example.com, owner@example.com"
    seeded_stats.save()
    return seeded_stats


def test_a_winner_is_told_once_by_mail_and_webhook(owned, webhook, mailoutbox):
    url, received = webhook
    with override_settings(WAGTAIL_EXPERIMENTS={"NOTIFICATION_WEBHOOKS": {"*": url}}):
        run_experiment_schedule()
        run_experiment_schedule()  # the same verdict: nothing new to tell
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["owner@example.com", "analyst@example.com"]
    assert mail.subject.startswith("Experiment “Landing page hero”: b converts")
    assert f"/admin/experiments/results/{owned.pk}/" in mail.body
    assert len(received) == 1
    content_type, payload = received[0]
    assert content_type == "application/json"
    assert payload["event"] == "verdict" and payload["reason"] == "winner"
    assert payload["winner"] == "b" and payload["experiment"] == "landing-hero"
    assert payload["text"].startswith("Experiment “Landing page hero”: b converts")
    assert list(ExperimentNotification.objects.values_list("event", flat=True)) == [
        "verdict:winner:b"]


def test_a_new_event_is_told_too(owned, mailoutbox):
    run_experiment_schedule()
    seed(owned, "c", days_ago(0), 20_000, 2000, source="burst")  # the split goes wrong
    run_experiment_schedule()
    assert len(mailoutbox) == 2
    assert mailoutbox[1].subject.split(": ", 1)[1].startswith("Traffic split is off")


def test_nothing_is_told_while_an_experiment_collects_data(demo, mailoutbox):
    demo.notify_emails = "analyst@example.com"
    demo.save()
    run_experiment_schedule()
    assert mailoutbox == []
    assert not ExperimentNotification.objects.exists()


def test_a_scheduled_end_is_told(owned, mailoutbox):
    owned.ends_at = timezone.now() - timezone.timedelta(minutes=5)
    owned.save()
    run_experiment_schedule()
    owned.refresh_from_db()
    assert owned.status == "completed"
    assert any(mail.subject == "Experiment “Landing page hero” ended on schedule"
               for mail in mailoutbox)


@override_settings(WAGTAIL_EXPERIMENTS={
    "NOTIFICATION_WEBHOOKS": {"localhost": "http://127.0.0.1:9/closed"}})
def test_a_dead_webhook_is_logged_and_the_rest_goes_on(owned, mailoutbox, caplog):
    run_experiment_schedule()
    assert len(mailoutbox) == 1
    assert "Could not post the notification verdict:winner:b" in caplog.text
    assert "127.0.0.1:9" not in caplog.text  # webhook URLs can hold secrets


def test_notify_emails_must_be_addresses(demo):
    demo.notify_emails = "analyst@example.com, not an address"
    with pytest.raises(ValidationError, match="valid email address"):
        demo.full_clean()
