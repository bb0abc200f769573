"""Assignments for front ends that render elsewhere (Next.js, apps, edge workers).

The same decision as server-rendered pages (``decisions.assign_request``), asked for a URL
path or a code-level experiment, on behalf of the cookie's visitor or of a visitor id a
front-end server names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.http import Http404, QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from wagtail.models import Site

from .conf import get_setting
from .decisions import assign_request, count_exposure
from .exclusions import is_bot, may_track
from .routing import get_route_table
from .visitor import Visitor


class NotFound(Exception):
    """No page at that path, or no such experiment."""


@dataclass
class HeadlessAssignment:
    visitor: Visitor | None
    experiment: str | None = None
    variant: str | None = None
    payload: dict = field(default_factory=dict)
    page: object = None


def visitor_for(request, visitor_id=None):
    """The visitor an API call is about: the one named, else the cookie's (or a new one).
    None when the visitor may not be tracked: they get the control, and no cookie."""
    if not may_track(request) or is_bot(request):
        return None
    if visitor_id:
        return Visitor.named(request, visitor_id)
    return Visitor.from_request(request)


def assignment_for_path(request, path, *, visitor, expose=True, page=None):
    """The page the visitor is served at ``path`` (which may carry the landing URL's query
    string, for UTM attribution and targeting) on the request's site; ``page`` is the page
    at that path when the caller has already resolved it."""
    parts = urlsplit(path)
    page = page or resolve_page(request, parts.path)
    route = get_route_table().for_control_page(page.pk)
    result = HeadlessAssignment(visitor, page=page)
    if route is None or not route.is_live_at(timezone.now()):
        return result
    assignment = _assign(request, route, visitor, QueryDict(parts.query), expose)
    if assignment is not None and assignment.variant is not None:
        result.experiment, result.variant = route.slug, assignment.key
        result.payload = assignment.payload
        if assignment.swaps_page:
            result.page = assignment.variant.fresh_page()
    return result


def assignment_for_experiment(request, slug, *, visitor, expose=True):
    """The visitor's variant of the code-level experiment ``slug``."""
    route = get_route_table().by_slug.get(slug)
    if route is None or not route.is_code_level or not route.is_live_at(timezone.now()):
        raise NotFound(f"No running code-level experiment {slug!r}.")
    site = Site.find_for_request(request)
    result = HeadlessAssignment(visitor)
    if not route.applies_to_site(site.pk if site else None):
        return result
    assignment = _assign(request, route, visitor, request.GET, expose)
    if assignment is not None and assignment.variant is not None:
        result.experiment, result.variant = route.slug, assignment.key
        result.payload = assignment.payload
    return result


def _assign(request, route, visitor, landing_query, expose):
    if visitor is None:
        # Not trackable (no consent, a bot): the winner if one is promoted, else the control.
        return assign_request(request, route) if route.winner_key else None
    visitor.keep()
    assignment = assign_request(request, route, visitor, query=landing_query)
    if assignment is not None and assignment.counts and assignment.is_new and expose:
        count_exposure(request, assignment, query=landing_query)
    return assignment


def resolve_page(request, path):
    """The live page Wagtail would serve at ``path`` on the request's site."""
    site = Site.find_for_request(request)
    if site is None:
        raise NotFound("No Wagtail site serves this host.")
    components = [component for component in path.split("/") if component]
    try:
        return site.root_page.localized.specific.route(request, components).page.specific
    except Http404 as error:
        raise NotFound(f"No page at {path!r}.") from error


def page_api_url(request, page):
    """The page's URL in Wagtail's API v2 (``PAGES_API_NAMESPACE``), if it is mounted."""
    try:
        url = reverse(f"{get_setting('PAGES_API_NAMESPACE')}:pages:detail", args=[page.pk])
    except NoReverseMatch:
        return None
    return request.build_absolute_uri(url)
