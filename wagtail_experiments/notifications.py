"""Telling people when an experiment needs them: it reached a verdict (a winner, every
variant worse, a winner held back by a guardrail), its traffic split went wrong, or its
schedule ended.

Run by the scheduled task (``run_experiment_schedule``), never by a visitor's request. Each
event is told once (``ExperimentNotification`` rows, unique per experiment and event): by
e-mail to the experiment's creator and its ``notify_emails``, through Django's mail
backend, and as a JSON POST to the webhook of its site (``NOTIFICATION_WEBHOOKS``), whose
``text`` field Slack and compatible chat tools show as is.
"""

from __future__ import annotations

import json
import logging
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from .conf import get_setting
from .models import Experiment, ExperimentNotification
from .results import experiment_results
from .templatetags.wagtail_experiments_admin import verdict_sentence

logger = logging.getLogger(__name__)

# Verdict reasons worth telling someone about: each asks for a decision or a fix.
TOLD_REASONS = ("winner", "loser", "guardrail_harmed", "srm")
WEBHOOK_TIMEOUT_SECONDS = 5


def notify_verdicts():
    """Tell about each running or paused experiment's verdict, when it is new and worth
    telling; returns the events told, as ``[(slug, event)]``."""
    told = []
    live = Experiment.objects.filter(
        status__in=[Experiment.Status.RUNNING, Experiment.Status.PAUSED]
    ).select_related("created_by")
    for experiment in live:
        try:
            verdict = experiment_results(experiment)["verdict"]
        except Exception:
            logger.exception("Could not compute the verdict of experiment %s.", experiment.pk)
            continue
        if verdict["reason"] not in TOLD_REASONS:
            continue
        event = f"verdict:{verdict['reason']}:{verdict['winner'] or ''}"
        headline = verdict_sentence(verdict)
        subject = _("Experiment “%(name)s”: %(headline)s") % {
            "name": experiment.name, "headline": headline}
        if tell(experiment, event, subject, headline, reason=verdict["reason"],
                winner=verdict["winner"]):
            told.append((experiment.slug, event))
    return told


def notify_schedule_ended(experiment):
    """Tell that ``experiment`` was completed because its end date came."""
    text = _("Its end date has come: it is completed, and everyone sees the control page "
             "again. Choose what to do with the result.")
    subject = _("Experiment “%(name)s” ended on schedule") % {"name": experiment.name}
    return tell(experiment, "schedule:ended", subject, text, reason="schedule_ended")


def tell(experiment, event, subject, text, **details):
    """Send ``event`` about ``experiment`` once; False when it was told before."""
    try:
        with transaction.atomic():
            ExperimentNotification.objects.create(experiment=experiment, event=event)
    except IntegrityError:
        return False  # told already, maybe by a concurrent run
    url = results_url(experiment)
    body = f"{text}\n\n{_('Results')}: {url}\n"
    recipients = experiment.notification_addresses()
    if recipients:
        try:
            send_mail(subject, body, None, recipients)
        except Exception:
            logger.exception("Could not e-mail the notification %s of experiment %s.",
                             event, experiment.pk)
    webhook = webhook_for(experiment)
    if webhook:
        payload = {
            "text": f"{subject}\n{url}",
            "experiment": experiment.slug,
            "name": experiment.name,
            "event": event.split(":", 1)[0],
            "url": url,
            **details,
        }
        post_webhook(webhook, payload, event=event, experiment_id=experiment.pk)
    return True


def results_url(experiment):
    """The results screen, absolute when ``WAGTAILADMIN_BASE_URL`` says where the admin is."""
    path = reverse("experiments:results", args=[experiment.pk])
    base = getattr(settings, "WAGTAILADMIN_BASE_URL", "") or ""
    return f"{base.rstrip('/')}{path}"


def webhook_for(experiment):
    """The webhook of the experiment's site (by hostname), else the default ("*")."""
    webhooks = get_setting("NOTIFICATION_WEBHOOKS") or {}
    site = experiment.target_site
    if site is None and experiment.control_page_id:
        site = experiment.control_page.get_site()
    hostname = site.hostname if site is not None else None
    return webhooks.get(hostname) or webhooks.get("*")


def post_webhook(url, payload, *, event, experiment_id):
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read()
    except Exception:
        # The URL may hold a secret (Slack's do): it stays out of the log.
        logger.exception("Could not post the notification %s of experiment %s to its "
                         "webhook.", event, experiment_id)
