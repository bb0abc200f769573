"""A visitor's variant for one experiment, and counting it: shared by the middleware (page
experiments), the headless assignment API and ``get_variant`` (code-level experiments).

Order of precedence: a promoted winner, then editors (never counted; they may force a
variant), then exclusions (bots, prefetch, privacy), then the visitor's sticky variant
(signed cookie, or their stored exposure), then the targeting rules, then the
GrowthBook-compatible hash.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

from django.utils import translation

from . import assignment as bucketing
from . import exposure_buffer, tracking
from .attribution import utm_from_query
from .conf import get_setting
from .exclusions import is_bot, is_prefetch, may_track
from .routing import Route, RoutedVariant
from .targeting import TargetingContext, device_class
from .visitor import Visitor, logged_in_user

logger = logging.getLogger(__name__)

_SAFE_METHODS = ("GET", "HEAD")


@dataclass
class Assignment:
    """What this request gets for one experiment; ``variant`` None = not in it."""

    route: Route
    variant: RoutedVariant | None
    visitor: Visitor | None = None
    # False for views that must never count or set cookies: editors' forced variants, and
    # form posts that only keep the visitor's sticky variant.
    counts: bool = True
    # True when the variant came from the hash, not from the sticky cookie.
    is_new: bool = False
    # Set by the serve hook once the page passed its view restrictions and was served.
    page_served: bool = False

    @property
    def swaps_page(self):
        return self.variant is not None and not self.variant.is_control

    @property
    def key(self):
        return self.variant.key if self.variant is not None else None

    @property
    def payload(self):
        # A deep copy: callers may change it without touching the shared route table.
        return copy.deepcopy(self.variant.payload) if self.variant is not None else {}


def assign_request(request, route, visitor=None, *, query=None):
    """The assignment of ``request``'s visitor (or ``visitor``, e.g. named by an API
    caller) to ``route``, or None for requests that see the control and never count.
    ``query`` is the landing URL's query (default: the request's) for targeting."""
    if route.winner_key is not None:
        # The experiment is over and its winner promoted: everyone, bots included, gets it.
        return Assignment(route, route.variants[0], counts=False)
    if is_editor(request):
        forced = forced_variant(request, route)
        # Editors checking their own pages would skew the numbers: they get the control,
        # or the variant they force, and are never counted; whatever their browser (a
        # headless one reads as a bot, and would otherwise only ever see the control).
        return Assignment(route, forced, counts=False) if forced is not None else None
    if is_excluded(request):
        return None
    visitor = visitor or Visitor.from_request(request)
    sticky = route.variant_by_key(visitor.assignments.get(route.experiment_id))
    if request.method not in _SAFE_METHODS:
        # A form posted from the variant's page goes to that page again; nobody is
        # bucketed or counted by a POST.
        return Assignment(route, sticky, counts=False) if sticky is not None else None
    if sticky is not None:
        return Assignment(route, sticky, visitor)
    if not visitor.is_new and route.experiment_id not in visitor.unexposed:
        recorded = _recorded_variant(route, visitor)
        if recorded is not None:
            visitor.remember(route.experiment_id, recorded.key)
            return Assignment(route, recorded, visitor)
    index = bucketing.NOT_IN_EXPERIMENT
    if route.targeting.is_open or route.targeting.matches(targeting_context(request, query)):
        index = bucketing.assign(
            visitor.id, route.seed, route.weights, route.coverage, route.hash_version
        )
    if index == bucketing.NOT_IN_EXPERIMENT:
        # Remembered (with the visitor id), so that the next view neither asks the database
        # nor re-rolls a new id until one lands in the experiment.
        visitor.remember_unexposed(route.experiment_id)
        return Assignment(route, None, visitor)
    return Assignment(route, route.variants[index], visitor, is_new=True)


def counts_as_exposure(request, assignment):
    """Whether this request makes a first exposure: a new assignment of a counted visitor,
    on a GET (a HEAD or a form post shows nobody anything)."""
    return (
        assignment is not None
        and assignment.counts
        and assignment.is_new
        and request.method == "GET"
    )


def count_exposure(request, assignment, *, query=None, confirmed_by_client=None):
    """Count a first exposure (or, in client exposure mode, make it sticky until the
    tracker confirms it) and have the visitor's cookies written. Never raises.
    ``query`` is the landing URL's query (default: the request's) for UTM attribution;
    ``confirmed_by_client`` overrides the exposure mode (False: record it now)."""
    route, visitor = assignment.route, assignment.visitor
    if confirmed_by_client is None:
        confirmed_by_client = get_setting("EXPOSURE_MODE") == "client"
    try:
        if confirmed_by_client:
            # The tracker's impression event records the exposure once the page has
            # rendered in a browser; until then the assignment is only made sticky.
            visitor.remember(route.experiment_id, assignment.variant.key)
        elif visitor.is_new and exposure_buffer.is_enabled():
            # A new visitor's id was made for this request: no earlier exposure can exist,
            # so the page need not wait for the database (see ``exposure_buffer``).
            exposure_buffer.buffer.add(tracking.new_exposure(
                experiment_id=route.experiment_id,
                variant_id=assignment.variant.id,
                visitor_id=visitor.id,
                utm=utm_from_query(request.GET if query is None else query),
            ))
            visitor.remember(route.experiment_id, assignment.variant.key)
        else:
            stored_variant_id = tracking.record_exposure(
                experiment_id=route.experiment_id,
                variant_id=assignment.variant.id,
                visitor_id=visitor.id,
                utm=utm_from_query(request.GET if query is None else query),
            )
            stored = route.variant_by_id(stored_variant_id)
            if stored is not None:
                # Remembered only once stored, so a failed write is retried on the next
                # view; an earlier exposure's variant wins over this request's hash.
                visitor.remember(route.experiment_id, stored.key)
                assignment.variant = stored
        visitor.keep()
    except Exception:
        logger.exception("Experiment tracking failed; the response goes out regardless.")


def targeting_context(request, query=None):
    """What targeting rules look at: the entry URL's UTM values, the device, the locale."""
    utm = utm_from_query(request.GET if query is None else query)
    return TargetingContext(
        utm_source=utm.get("utm_source", ""),
        utm_medium=utm.get("utm_medium", ""),
        utm_campaign=utm.get("utm_campaign", ""),
        device=device_class(request.headers.get("User-Agent", "")),
        locale=getattr(request, "LANGUAGE_CODE", None)
        or translation.get_language_from_request(request),
    )


def is_excluded(request):
    """Requests that see the control and never count: speculative loads, bots, and
    visitors who have not consented or ask not to be tracked."""
    return is_prefetch(request) or is_bot(request) or not may_track(request)


def forced_variant(request, route):
    """The variant an editor asks for with ``?wexp=<slug>:<key>``, if it exists."""
    slug, _, key = request.GET.get(get_setting("FORCE_PARAMETER"), "").partition(":")
    return route.variant_by_key(key) if slug == route.slug else None


def is_editor(request):
    user = logged_in_user(request)
    return user is not None and user.has_perm("wagtailadmin.access_admin")


def _recorded_variant(route, visitor):
    """A returning visitor whose cookie lost this assignment (cleared, or pruned while the
    experiment was paused) keeps the variant of their stored exposure: weights may have
    changed since, and their events are attributed to it. A query only on this rare path;
    returning visitors with the cookie cost none."""
    try:
        variant_id = tracking.recorded_variant_id(route.experiment_id, visitor.id)
    except Exception:
        logger.exception("Could not look up a visitor's exposure; bucketing by hash.")
        return None
    return route.variant_by_id(variant_id)
