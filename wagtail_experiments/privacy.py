"""Erasing one person's data (GDPR article 17): exposures, events, conversions, leads.

Daily rollups are left alone: they are anonymous counts, and results keep adding up.
"""

from django.db import transaction

from .models import Event, Exposure, GoalCompletion, Lead


@transaction.atomic
def erase_person(*, visitor_ids=(), email=None):
    """Delete everything stored about the visitors ``visitor_ids`` and, with ``email``,
    about whoever submitted leads with that address (and the visitors behind them).
    Returns the number of rows removed per kind."""
    visitor_ids = set(visitor_ids)
    leads = Lead.objects.none()
    if email:
        leads = Lead.objects.filter(email__iexact=email)
        visitor_ids |= set(leads.exclude(visitor_id="").values_list("visitor_id", flat=True))
    leads = leads | Lead.objects.filter(visitor_id__in=visitor_ids)
    return {
        "exposures": Exposure.objects.filter(visitor_id__in=visitor_ids).delete()[0],
        "events": Event.objects.filter(visitor_id__in=visitor_ids).delete()[0],
        "goal completions": GoalCompletion.objects.filter(visitor_id__in=visitor_ids).delete()[0],
        "leads": _delete_leads(leads),
    }


def _delete_leads(leads):
    lead_ids = list(leads.values_list("pk", flat=True))
    # Lead.variants rows go with the leads; only the leads themselves are counted.
    Lead.objects.filter(pk__in=lead_ids).delete()
    return len(lead_ids)
