"""Code-level experiments (feature flags): your code asks for the visitor's variant.

``get_variant(request, "new-checkout")`` returns the variant key (``"control"``, ``"b"``...)
or None when the visitor is not in the experiment, and counts the visitor's exposure the
first time; ``get_variant_payload`` returns the variant's JSON payload. In templates::

    {% load wagtail_experiments %}
    {% experiment_variant "new-checkout" as checkout %}
    {% if checkout == "b" %}...{% endif %}
    {% if checkout.payload.new_ui %}...{% endif %}
"""

from __future__ import annotations

import logging

from django.utils import timezone

from . import shared_cache
from .decisions import assign_request, count_exposure, counts_as_exposure
from .middleware import PERSONALISED
from .routing import get_route_table

logger = logging.getLogger(__name__)


def get_variant(request, slug):
    """The visitor's variant key of experiment ``slug``, or None (unknown or not running
    experiment, visitor outside its coverage or targeting, bots, no consent)."""
    assignment = get_assignment(request, slug)
    return assignment.key if assignment is not None else None


def get_variant_payload(request, slug):
    """The JSON payload of the visitor's variant of ``slug``; ``{}`` when not in it."""
    assignment = get_assignment(request, slug)
    return assignment.payload if assignment is not None else {}


def get_assignment(request, slug):
    """The request's ``Assignment`` to experiment ``slug``, decided once per request.

    A code-level experiment buckets the visitor here; a page experiment answers only on its
    own URL, where the middleware already did. Never raises: flags must not break pages.
    """
    decided = request.__dict__.setdefault("_wagtail_experiments_flags", {})
    if slug not in decided:
        try:
            decided[slug] = _decide(request, slug)
        except Exception:
            logger.exception("Could not decide experiment %r; using the control.", slug)
            decided[slug] = None
    return decided[slug]


def _decide(request, slug):
    route = get_route_table().by_slug.get(slug)
    if route is None or not route.is_live_at(timezone.now()):
        return None
    if not route.is_code_level:
        current = getattr(request, "experiment_assignment", None)
        return current if current is not None and current.route is route else None
    if not route.applies_to_request(request):
        return None
    assignment = assign_request(request, route)
    if route.winner_key is None:
        # What this response shows now depends on the visitor: keep it out of shared caches
        # (or, in shared-cache mode, cache one copy per variant).
        setattr(request, PERSONALISED, True)
        shared_cache.depends_on(request, route, assignment)
    if counts_as_exposure(request, assignment):
        count_exposure(request, assignment)
    return assignment if assignment is not None and assignment.variant is not None else None
