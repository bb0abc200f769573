"""Bucket visitors of experiment URLs, then label, count and remember what they were served.

The page swap itself happens in Wagtail's ``on_serve_page`` chain (see ``serving.py``), so
Wagtail's routing, site handling and view restrictions all stay in charge.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from wagtail.models import Site

from . import shared_cache
from .conf import get_setting
from .decisions import Assignment, assign_request, count_exposure, counts_as_exposure
from .routing import get_route_table

logger = logging.getLogger(__name__)

VARIANT_HEADER = "X-Experiment-Variant"
# Set on the request by whatever puts per-visitor content into a page (the tracker tag,
# ``get_variant``).
PERSONALISED = "wagtail_experiments_personalised"

__all__ = ["PERSONALISED", "VARIANT_HEADER", "Assignment", "ExperimentMiddleware"]


class ExperimentMiddleware:
    """Add after Django's session and authentication middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            route = self._route_for(request)
            assignment = assign_request(request, route) if route else None
        except Exception:
            # Experiments are an optimisation of the page, never a reason to fail it.
            logger.exception("Experiment bucketing failed; serving the page unchanged.")
            route = assignment = None
        request.experiment_assignment = assignment
        if route is not None and route.winner_key is None:
            # Noted before the view, so that the tracker tag knows the page is keyed.
            shared_cache.depends_on(request, route, assignment)

        response = self.get_response(request)

        if route is not None:
            self._finish(request, response, route, assignment)
        canonical_key = self._write_cookies(request, response)
        if getattr(request, PERSONALISED, False) and not (
            shared_cache.is_enabled()
            and shared_cache.share_per_variant(request, response, canonical_key)
        ):
            mark_per_visitor(response)
        return response

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

    # After the view -----------------------------------------------------------------------

    def _finish(self, request, response, route, assignment):
        if route.winner_key is None:
            # Any response at this URL depends on the bucket, even the control's.
            setattr(request, PERSONALISED, True)
        if assignment is None:
            return
        if assignment.variant is not None:
            response[VARIANT_HEADER] = f"{route.slug}={assignment.variant.key}"
        # Only a page a person actually received counts: not a redirect to a login form,
        # or a password prompt.
        if (
            counts_as_exposure(request, assignment)
            and assignment.page_served
            and response.status_code == 200
        ):
            count_exposure(request, assignment)

    @staticmethod
    def _write_cookies(request, response):
        """Set the cookies of a visitor whose assignments changed during this request (the
        page's experiment, ``get_variant``, the assignment API), and in shared-cache mode
        their variants key when it is not what the request sent. Returns that key (None
        when the request has no visitor, or shared-cache mode is off)."""
        visitor = getattr(request, "_wagtail_experiments_visitor", None)
        shared = shared_cache.is_enabled()
        if visitor is None or not (shared or visitor.has_cookie_changes):
            return None  # a returning visitor's view, as before: no table lookup
        try:
            table = get_route_table()
            if visitor.has_cookie_changes:
                visitor.write_cookies(response, request, known_experiment_ids=table.experiment_ids)
                setattr(request, PERSONALISED, True)
            if not (shared and visitor.sets_cookies):
                return None
            key = shared_cache.cache_key(visitor, table)
            if key != shared_cache.request_key(request) and (
                visitor.has_cookie_changes or shared_cache.dependencies(request)
            ):
                shared_cache.write_key_cookie(response, request, key)
                setattr(request, PERSONALISED, True)
            return key
        except Exception:
            logger.exception("Could not set the experiment cookies.")
            setattr(request, PERSONALISED, True)
            return None


def mark_per_visitor(response):
    """Keep shared caches from storing one visitor's response for others."""
    if get_setting("PRIVATE_CACHE_CONTROL"):
        patch_cache_control(response, private=True)
    patch_vary_headers(response, ["Cookie"])
