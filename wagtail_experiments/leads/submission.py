"""Saving a lead: attribution by the server, one conversion per visitor, a notification."""

import logging

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import tracking
from ..decisions import is_excluded
from ..models import Exposure
from ..routing import get_route_table
from ..sql import tracking_transaction
from ..text import without_unstorable
from ..throttling import LEAD_NOTIFICATIONS, hit
from .forms import email_of, json_safe
from .models import Lead

logger = logging.getLogger(__name__)


def attributed_visitor_id(request, visitor_id):
    """The visitor a lead is attributed to: ``visitor_id``, unless the request is one that
    is never counted (a bot, a visitor without consent; ``is_excluded``), whose lead is
    kept but counts in no experiment."""
    return "" if is_excluded(request) else visitor_id


def save_lead(lead_form, cleaned_data, **details):
    """Store a valid submission, attributed to every running experiment the visitor was
    exposed to, and count it as a conversion of the form's goal in each (once per visitor).
    ``at`` (default: now) and ``notify_form=False`` are for history recorded after the
    fact, such as the demo's.
    Within ``TRACKING_DB_TIMEOUT_MS`` on PostgreSQL: a ``DatabaseError`` means nothing was
    stored. A lead always waits for its commit to reach the disk (whatever
    ``TRACKING_SYNCHRONOUS_COMMIT`` says): it is reported as accepted only once it is safe."""
    with tracking_transaction(Lead, synchronous_commit=True):
        return _save_lead(lead_form, cleaned_data, **details)


def _save_lead(lead_form, cleaned_data, *, visitor_id="", page_id=None, referrer="",
               user_id=None, utm=None, at=None, notify_form=True, counted_variants=None):
    exposures = _running_exposures(visitor_id)
    if counted_variants and _exposed_from_cookie(exposures, visitor_id, counted_variants):
        exposures = _running_exposures(visitor_id)
    first_touch = min(exposures, key=lambda exposure: exposure.created_at, default=None)
    lead = Lead.objects.create(
        form=lead_form,
        data=json_safe(cleaned_data),
        email=email_of(lead_form, cleaned_data),
        visitor_id=visitor_id,
        page_id=page_id,
        referrer=without_unstorable(referrer)[:2000],
        user_id=user_id,
        created_at=at or timezone.now(),
        **(first_touch.utm() if first_touch else (utm or {})),
    )
    lead.variants.set([exposure.variant_id for exposure in exposures])
    if exposures:
        _count_conversions(lead, lead_form, exposures, visitor_id, user_id, at)
    if notify_form and lead_form.notification_addresses():
        transaction.on_commit(lambda: notify(lead))
    return lead


def _count_conversions(lead, lead_form, exposures, visitor_id, user_id, at=None):
    """A failure here must not lose the lead itself: it is rolled back to a savepoint
    and logged (without the lead's data)."""
    try:
        with transaction.atomic():
            result = tracking.record_events(
                [
                    tracking.TrackedEvent(
                        type="conversion",
                        experiment=exposure.experiment.slug,
                        event_id=f"lead-{lead.pk}",
                        goal=lead_form.goal,
                    )
                    for exposure in exposures
                ],
                visitor_id=visitor_id,
                user_id=user_id,
                from_server=True,
                at=at,
            )
        for rejected in result.rejected:
            # Only the goal and experiment (in the reason), never the lead's data.
            logger.warning("Lead %s counts in no experiment there: %s", lead.pk,
                           rejected["error"])
    except Exception:
        logger.exception("Could not count lead %s as a conversion.", lead.pk)


def _exposed_from_cookie(exposures, visitor_id, counted_variants):
    """Store the exposures the signed cookie vouches for that are not stored yet (see
    ``exposure_buffer``); True if there were any."""
    stored = {exposure.experiment_id for exposure in exposures}
    missing = [
        route
        for route in get_route_table().collecting(counted_variants, timezone.now())
        if route.experiment_id not in stored
    ]
    return bool(missing) and tracking.expose_from_cookie(missing, visitor_id, counted_variants)


def _running_exposures(visitor_id):
    if not visitor_id:
        return []
    running = get_route_table().collecting_ids
    return list(
        Exposure.objects.filter(visitor_id=visitor_id, experiment_id__in=running).select_related(
            "experiment"
        )
    )


def notify(lead):
    """E-mail the form's notification addresses. Failures are logged without the lead's
    data: it is personal data and must never reach the logs."""
    lead_form = lead.form
    if not hit(LEAD_NOTIFICATIONS, lead_form.pk):
        # A flood of scripted leads must not become a flood of e-mail: the lead is kept
        # (the admin lists it), only the message is skipped.
        logger.warning("Lead %s stored without a notification: lead form %s is over "
                       "LEAD_NOTIFICATION_LIMIT.", lead.pk, lead_form.pk)
        return
    lines = [f"{name}: {value}" for name, value in lead.data.items()]
    try:
        send_mail(
            subject=_("New lead from “%(form)s”") % {"form": lead_form.name},
            message="\n".join(lines),
            from_email=None,
            recipient_list=lead_form.notification_addresses(),
        )
    except Exception:
        logger.exception("Could not send the notification for lead %s.", lead.pk)
