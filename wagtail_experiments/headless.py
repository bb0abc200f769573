"""Assignments for front ends that render elsewhere (Next.js, apps, edge workers).

The same decision as server-rendered pages (``decisions.assign_request``), asked for a URL
path or a code-level experiment, on behalf of the cookie's visitor or of a visitor id a
front-end server names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlencode, urlsplit

from django.http import Http404, QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from wagtail.models import Site

from .conf import get_setting
from .decisions import (
    assign_request,
    count_exposure,
    counts_as_exposure,
    is_editor,
    is_excluded,
)
from .exclusions import may_track
from .routing import get_route_table
from .visitor import Visitor, cookie_visitor_id


class NotFound(Exception):
    """No page at that path, or no such experiment."""


@dataclass
class HeadlessAssignment:
    visitor: Visitor | None
    experiment: str | None = None
    variant: str | None = None
    payload: dict = field(default_factory=dict)
    page: object = None
    # The page at the requested path (the control page, when an experiment runs there).
    requested_page: object = field(default=None, repr=False)
    # Set when ``page`` is a variant's pinned content rather than the page at the path,
    # which is then served at ``control_url``.
    variant_served: object = field(default=None, repr=False)
    control_url: str = ""
    # The decision, and the landing URL's query, while its exposure waits to be counted.
    pending: object = field(default=None, repr=False)
    landing_query: object = field(default=None, repr=False)


def visitor_for(request, visitor_id=None):
    """The visitor an API call is about: the one named, else the cookie's (or a new one),
    who then gets the cookie. None for calls that must not track anybody (no consent, a
    bot, a prefetch, an editor): they get the control, and no cookie."""
    if is_excluded(request) or is_editor(request):
        return None
    visitor = Visitor.named(request, visitor_id) if visitor_id else Visitor.from_request(request)
    visitor.keep()
    return visitor


def assignment_for_path(request, path, *, visitor, expose=True, page=None):
    """The page the visitor is served at ``path`` (which may carry the landing URL's query
    string, for UTM attribution and targeting) on the request's site; ``page`` is the page
    at that path when the caller has already resolved it. With ``expose=False`` a first
    exposure is left ``pending`` for ``count_pending``."""
    parts = urlsplit(path)
    page = page or resolve_page(request, parts.path)
    route = _route_at(request, unquote(parts.path), page)
    result = HeadlessAssignment(visitor, page=page, landing_query=QueryDict(parts.query),
                                requested_page=page)
    if route is None or not _may_view(request, route.control_page, route.control_restricted):
        # Past the control page's view restriction only: before that, nobody is bucketed,
        # counted, or told what the variants are.
        return result
    _decide(request, route, result, expose=False)
    served = route.variant_by_key(result.variant) if result.variant is not None else None
    if served is not None and not _may_view(request, served.page, served.restricted):
        # The variant page's own restriction, as when served at the control URL: the
        # visitor was not shown it, so nothing is counted and nothing is told.
        return HeadlessAssignment(visitor, page=page, landing_query=result.landing_query)
    if served is not None and served.page_id and served.page_id != page.pk:
        result.page = served.fresh_page()
        result.variant_served = served
        result.control_url = route.control_url
    if expose:
        # No browser will carry a sticky cookie back for a confirmation (client exposure
        # mode): an assignment made for a front end is counted now.
        count_pending(request, result)
    return result


def assignment_for_experiment(request, slug, *, visitor, expose=True):
    """The visitor's variant of the code-level experiment ``slug``. Its site rule is the
    API request's host, its UTM values the API request's own ``utm_*`` parameters."""
    route = get_route_table().by_slug.get(slug)
    if route is None or not route.is_code_level or not route.is_live_at(timezone.now()):
        raise NotFound(f"No running code-level experiment {slug!r}.")
    result = HeadlessAssignment(visitor, landing_query=request.GET)
    if route.applies_to_request(request):
        _decide(request, route, result, expose)
    return result


def count_pending(request, result):
    """Count the exposure an ``expose=False`` call left pending."""
    if result.pending is not None:
        count_exposure(
            request, result.pending, query=result.landing_query, confirmed_by_client=False
        )
        result.pending = None


def _route_at(request, path, page):
    """The experiment the middleware would serve at ``path`` on this site, if ``page`` is
    its control page (not a sub-route of it, nor another site sharing the page)."""
    site = Site.find_for_request(request)
    table = get_route_table()
    route = table.find(site.pk if site else None, path)
    if route is None and not path.endswith("/"):
        route = table.find(site.pk if site else None, path + "/")
    if route is None or route.control_page_id != page.pk:
        return None
    return route if route.is_live_at(timezone.now()) else None


def _may_view(request, page, restricted):
    """Whether the request passed every view restriction of ``page`` (its own and its
    ancestors'): a password given in this session, a login, a group. Queries only for
    restricted pages, which the route table knows."""
    if not restricted:
        return True
    return all(
        restriction.accept_request(request) for restriction in page.get_view_restrictions()
    )


def _decide(request, route, result, expose):
    if result.visitor is None:
        # Not trackable: the winner if one is promoted, else the control.
        assignment = assign_request(request, route) if route.winner_key else None
    else:
        assignment = assign_request(request, route, result.visitor, query=result.landing_query)
    if assignment is None or assignment.variant is None:
        return
    result.experiment, result.variant = route.slug, assignment.key
    result.payload = assignment.payload
    if counts_as_exposure(request, assignment):
        result.pending = assignment
        if expose:
            # No browser will carry a sticky cookie back for a confirmation (client
            # exposure mode): an assignment made for a front end is counted now.
            count_pending(request, result)


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


def page_urls(request, result, path):
    """(url, api_url) of the page an assignment serves. A variant's content is served at
    the control URL: its own page is usually a draft, with no public URL or API detail, so
    ``api_url`` is then the variant-aware API v2 ``find`` for ``path`` (its pinned content,
    for this visitor, without counting again). For a server that named the visitor it
    names them too; a browser is known by its cookie."""
    variant = result.variant_served
    if variant is None:
        return result.page.get_full_url(request), _api_url(request, "detail", args=[result.page.pk])
    # Only the path: find looks up pages by path, and the query was the landing URL's.
    query = {"html_path": urlsplit(path).path, "expose": "false"}
    if result.visitor is not None and not result.visitor.sets_cookies:
        # A server named the visitor: it names them again (with its key) to fetch this.
        query["visitor_id"] = result.visitor.id
    find = _api_url(request, "find")
    return variant.url or result.control_url, None if find is None else f"{find}?{urlencode(query)}"


def _api_url(request, name, args=()):
    """An absolute URL of Wagtail's API v2 pages endpoint (``PAGES_API_NAMESPACE``), if
    it is mounted."""
    try:
        url = reverse(f"{get_setting('PAGES_API_NAMESPACE')}:pages:{name}", args=args)
    except NoReverseMatch:
        return None
    return request.build_absolute_uri(url)


def tracked_experiments(request):
    """Slugs of the running experiments this visitor is in, for the tracker: the one served
    on this page, and those remembered in the signed assignment cookie (no query)."""
    if request is None or not may_track(request):
        return []
    slugs = []
    assignment = getattr(request, "experiment_assignment", None)
    if assignment is not None and assignment.variant is not None and assignment.counts:
        slugs.append(assignment.route.slug)
    # The request's visitor as this request left it (a flag may have just assigned a new
    # visitor), else as the cookie says.
    if hasattr(request, "_wagtail_experiments_visitor") or cookie_visitor_id(request):
        remembered = Visitor.from_request(request).assignments
        for route in get_route_table().collecting(remembered, timezone.now()):
            if route.slug not in slugs:
                slugs.append(route.slug)
    return slugs
