"""Erasing one person's data (GDPR article 17): exposures, events, conversions, leads, and
their e-mail address wherever a link carried it into UTM values.

Daily rollups are otherwise left alone: they are anonymous counts, and results keep adding
up.
"""

from django.db import transaction

from . import exposure_buffer
from .attribution import UTM_PARAMETERS
from .models import DailyRollup, Event, Exposure, GoalCompletion, Lead
from .sql import add_to_counters
from .tracking import ROLLUP_COUNTERS, ROLLUP_KEY


@transaction.atomic
def erase_person(*, visitor_ids=(), email=None):
    """Delete everything stored about the visitors ``visitor_ids`` and, with ``email``,
    about whoever submitted leads with that address in any field (and the visitors behind
    them), and the address itself from UTM values. Returns the number of rows removed or
    scrubbed per kind."""
    visitor_ids = set(visitor_ids)
    leads = Lead.objects.none()
    if email:
        leads = Lead.objects.filter(pk__in=_leads_naming(email))
        visitor_ids |= set(leads.exclude(visitor_id="").values_list("visitor_id", flat=True))
    leads = leads | Lead.objects.filter(visitor_id__in=visitor_ids)
    exposure_buffer.buffer.forget(visitor_ids)  # what this process has not written yet
    removed = {
        "exposures": Exposure.objects.filter(visitor_id__in=visitor_ids).delete()[0],
        "events": Event.objects.filter(visitor_id__in=visitor_ids).delete()[0],
        "goal completions": GoalCompletion.objects.filter(visitor_id__in=visitor_ids).delete()[0],
        "leads": _delete_leads(leads),
    }
    if email:
        removed["UTM values"] = _scrub_utm_values(email)
    return removed


def _leads_naming(email):
    """Ids of the leads with ``email`` (any case) as their e-mail or in any submitted
    field, a form may have several e-mail fields."""
    wanted = email.strip().lower()
    ids = set(Lead.objects.filter(email__iexact=wanted).values_list("pk", flat=True))
    for pk, data in Lead.objects.values_list("pk", "data").iterator():
        values = data.values() if isinstance(data, dict) else ()
        for value in values:
            items = value if isinstance(value, list) else [value]
            if any(isinstance(item, str) and item.strip().lower() == wanted for item in items):
                ids.add(pk)
    return ids


def _scrub_utm_values(email):
    """Blank UTM values holding ``email`` (stored before such values were dropped on the
    way in); rollup rows are merged into the blank-source row of their key."""
    scrubbed = 0
    for model in (Exposure, Event, Lead):
        for name in UTM_PARAMETERS:
            scrubbed += model.objects.filter(**{f"{name}__icontains": email}).update(**{name: ""})
    rollups = list(DailyRollup.objects.filter(utm_source__icontains=email))
    add_to_counters(DailyRollup, ROLLUP_KEY, ROLLUP_COUNTERS, [
        {"experiment": row.experiment_id, "variant": row.variant_id, "goal": row.goal,
         "day": row.day, "utm_source": "",
         **{name: getattr(row, name) for name in ROLLUP_COUNTERS}}
        for row in rollups
    ])
    DailyRollup.objects.filter(pk__in=[row.pk for row in rollups]).delete()
    return scrubbed + len(rollups)


def _delete_leads(leads):
    lead_ids = list(leads.values_list("pk", flat=True))
    # Lead.variants rows go with the leads; only the leads themselves are counted.
    Lead.objects.filter(pk__in=lead_ids).delete()
    return len(lead_ids)
