"""Bucket visitors of experiment URLs, then label, count and remember what they were served.

The page swap itself happens in Wagtail's ``on_serve_page`` chain (see ``serving.py``), so
Wagtail's routing, site handling and view restrictions all stay in charge.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from wagtail.models import Site

from . import assignment as bucketing
from . import tracking
from .attribution import utm_from_query
from .conf import get_setting
from .exclusions import is_bot, is_prefetch, may_track
from .routing import Route, RoutedVariant, get_route_table
from .visitor import Visitor, logged_in_user

logger = logging.getLogger(__name__)

VARIANT_HEADER = "X-Experiment-Variant"
# Set on the request by whatever puts per-visitor content into a page (the tracker tag).
PERSONALISED = "wagtail_experiments_personalised"
_SAFE_METHODS = ("GET", "HEAD")


@dataclass
class Assignment:
    """What this request is served for one experiment; ``variant`` None = not in it."""

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


class ExperimentMiddleware:
    """Add after Django's session and authentication middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            route = self._route_for(request)
            assignment = self._assign(request, route) if route else None
        except Exception:
            # Experiments are an optimisation of the page, never a reason to fail it.
            logger.exception("Experiment bucketing failed; serving the page unchanged.")
            route = assignment = None
        request.experiment_assignment = assignment

        response = self.get_response(request)

        if route is not None:
            self._finish(request, response, route, assignment)
        elif getattr(request, PERSONALISED, False):
            self._mark_per_visitor(response)
        return response

    @staticmethod
    def _mark_per_visitor(response):
        if get_setting("PRIVATE_CACHE_CONTROL"):
            patch_cache_control(response, private=True)
        patch_vary_headers(response, ["Cookie"])

    # Before the view ----------------------------------------------------------------------

    def _route_for(self, request):
        table = get_route_table()
        if request.path not in table.by_path:
            return None
        # Wagtail caches the site on the request, so its own serve view reuses this lookup.
        site = Site.find_for_request(request)
        route = table.find(site.pk if site else None, request.path)
        if route is None or not route.is_live_at(timezone.now()):
            return None
        return route

    def _assign(self, request, route):
        if route.winner_key is not None:
            # The experiment is over and its winner promoted: everyone, bots included, sees it.
            return Assignment(route, route.variants[0], counts=False)
        if is_prefetch(request) or is_bot(request) or not may_track(request):
            return None
        if _is_editor(request):
            forced = self._forced_variant(request, route)
            # Editors checking their own pages would skew the numbers: they see the
            # control, or the variant they force, and are never counted.
            return Assignment(route, forced, counts=False) if forced is not None else None
        visitor = Visitor.from_request(request)
        sticky = route.variant_by_key(visitor.assignments.get(route.experiment_id))
        if request.method not in _SAFE_METHODS:
            # A form posted from the variant's page goes to that page again; nobody is
            # bucketed or counted by a POST.
            return Assignment(route, sticky, counts=False) if sticky is not None else None
        if sticky is not None:
            return Assignment(route, sticky, visitor)
        if not visitor.is_new:
            recorded = self._recorded_variant(route, visitor)
            if recorded is not None:
                visitor.remember(route.experiment_id, recorded.key)
                return Assignment(route, recorded, visitor)
        index = bucketing.assign(
            visitor.id, route.seed, route.weights, route.coverage, route.hash_version
        )
        if index == bucketing.NOT_IN_EXPERIMENT:
            return Assignment(route, None, visitor)
        return Assignment(route, route.variants[index], visitor, is_new=True)

    @staticmethod
    def _recorded_variant(route, visitor):
        """A returning visitor whose cookie lost this assignment (cleared, or pruned while
        the experiment was paused) keeps the variant of their stored exposure: weights may
        have changed since, and their events are attributed to it. A query only on this
        rare path; returning visitors with the cookie cost none."""
        try:
            variant_id = tracking.recorded_variant_id(route.experiment_id, visitor.id)
        except Exception:
            logger.exception("Could not look up a visitor's exposure; bucketing by hash.")
            return None
        return route.variant_by_id(variant_id)

    def _forced_variant(self, request, route):
        """The variant an editor asks for with ``?wexp=<slug>:<key>``, if it exists."""
        slug, _, key = request.GET.get(get_setting("FORCE_PARAMETER"), "").partition(":")
        return route.variant_by_key(key) if slug == route.slug else None

    # After the view -----------------------------------------------------------------------

    def _finish(self, request, response, route, assignment):
        if route.winner_key is None or getattr(request, PERSONALISED, False):
            # Any response at this URL depends on the bucket, even the control's.
            self._mark_per_visitor(response)
        if assignment is None:
            return
        if assignment.variant is not None:
            response[VARIANT_HEADER] = f"{route.slug}={assignment.variant.key}"
        if not assignment.counts:
            return
        try:
            if not self._is_first_exposure(request, response, assignment):
                pass
            elif get_setting("EXPOSURE_MODE") == "client":
                # The tracker's impression event records the exposure once the page has
                # rendered in a browser; until then the assignment is only made sticky.
                assignment.visitor.remember(route.experiment_id, assignment.variant.key)
            else:
                self._record_exposure(request, route, assignment)
            self._write_cookies(request, response, assignment.visitor)
        except Exception:
            logger.exception("Experiment tracking failed; the page is served regardless.")

    @staticmethod
    def _is_first_exposure(request, response, assignment):
        # Only a page a person actually received counts: not a HEAD, a redirect to a login
        # form, or a password prompt.
        return (
            assignment.is_new
            and assignment.page_served
            and request.method == "GET"
            and response.status_code == 200
        )

    @staticmethod
    def _record_exposure(request, route, assignment):
        stored_variant_id = tracking.record_exposure(
            experiment_id=route.experiment_id,
            variant_id=assignment.variant.id,
            visitor_id=assignment.visitor.id,
            utm=utm_from_query(request.GET),
        )
        stored = route.variant_by_id(stored_variant_id)
        if stored is not None:
            # Remembered only once stored, so a failed write is retried on the next view;
            # an earlier exposure's variant wins over this request's hash.
            assignment.visitor.remember(route.experiment_id, stored.key)

    def _write_cookies(self, request, response, visitor):
        visitor.write_cookies(
            response, request, known_experiment_ids=get_route_table().experiment_ids
        )


def _is_editor(request):
    user = logged_in_user(request)
    return user is not None and user.has_perm("wagtailadmin.access_admin")
