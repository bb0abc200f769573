"""Recording what visitors were shown. Never raises: serving a page matters more."""

import logging

from django.db import transaction

from .models import Exposure

logger = logging.getLogger(__name__)


def record_exposure(*, experiment_id, variant_id, visitor_id, utm=None):
    """Store a visitor's first exposure to an experiment; later calls store nothing.

    Returns True when the exposure is stored (now or before), False when storing failed,
    so the caller only marks the visitor as counted once the database agrees.
    """
    exposure = Exposure(
        experiment_id=experiment_id, variant_id=variant_id, visitor_id=visitor_id, **(utm or {})
    )
    try:
        with transaction.atomic():
            # INSERT … ON CONFLICT DO NOTHING: races between a visitor's parallel requests
            # end with one row, without an exception.
            Exposure.objects.bulk_create([exposure], ignore_conflicts=True)
    except Exception:
        logger.exception("Could not record an exposure to experiment %s.", experiment_id)
        return False
    return True
