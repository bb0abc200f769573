"""Serving the assigned variant page at the control URL, inside Wagtail's serve chain."""

from __future__ import annotations

import logging
import re

from django.utils import timezone
from django.utils.html import escape
from wagtail.wagtail_hooks import check_view_restrictions

from . import tracking
from .exclusions import is_bot, is_prefetch, may_track
from .routing import get_route_table
from .visitor import Visitor, cookie_visitor_id, counted_variants

logger = logging.getLogger(__name__)

_CANONICAL_LINK_RE = re.compile(r"<link\b[^>]*\brel=[\"']?canonical\b[^>]*>", re.IGNORECASE)


def serve_assigned_variant(callback):
    """``on_serve_page`` hook, registered innermost: the control page has passed its own
    view restrictions by the time it reaches us, and the variant page must pass its own
    (Wagtail's check, reused) before it is served in the control page's place."""

    def inner(page, request, serve_args, serve_kwargs):
        assignment = getattr(request, "experiment_assignment", None)
        if assignment is not None and page.pk == assignment.route.control_page_id:
            return _serve_assignment(assignment, callback, page, request, serve_args, serve_kwargs)

        response = callback(page, request, serve_args, serve_kwargs)
        table = get_route_table()
        route = table.by_variant_page.get(page.pk)
        if route is not None and route.is_live_at(timezone.now()):
            point_to_control_url(response, route.control_url)
        if page.pk in table.by_goal_page and response.status_code == 200:
            record_goal_page_visit(request, table.by_goal_page[page.pk])
        return response

    return inner


def _serve_assignment(assignment, callback, page, request, serve_args, serve_kwargs):
    def serve_and_mark(page_to_serve, *args):
        # Reached only past every view restriction: the visitor really sees the page, so
        # this view may count as an exposure (a password prompt must not).
        assignment.page_served = True
        return callback(page_to_serve, *args)

    if not assignment.swaps_page:
        return serve_and_mark(page, request, serve_args, serve_kwargs)
    variant = assignment.variant
    variant_page = variant.fresh_page()
    # The variant's own route for its root URL (matters for RoutablePageMixin pages).
    route_result = variant_page.route(request, [])
    serve = check_view_restrictions(serve_and_mark) if variant.restricted else serve_and_mark
    return serve(variant_page, request, route_result.args, route_result.kwargs)


def point_to_control_url(response, control_url):
    """A variant page seen at its own URL is a duplicate of the control URL for search
    engines: say so in headers, and in the HTML's canonical link."""
    response["X-Robots-Tag"] = "noindex"
    response["Link"] = f'<{control_url}>; rel="canonical"'
    tag = f'<link rel="canonical" href="{escape(control_url)}">'

    def rewrite(rendered):
        if "text/html" not in rendered.get("Content-Type", "") or rendered.streaming:
            return
        charset = rendered.charset
        html = rendered.content.decode(charset)
        if _CANONICAL_LINK_RE.search(html):
            html = _CANONICAL_LINK_RE.sub(tag, html, count=1)
        else:
            html = html.replace("</head>", f"{tag}</head>", 1)
        rendered.content = html.encode(charset)

    if hasattr(response, "add_post_render_callback"):
        response.add_post_render_callback(rewrite)
    else:
        rewrite(response)


def record_goal_page_visit(request, routes):
    """A visitor exposed to an experiment reached its goal page: one conversion of the
    primary goal (the event id makes repeat visits count once). Never breaks the page."""
    if request.method != "GET" or is_prefetch(request) or is_bot(request):
        return
    if not may_track(request) or not cookie_visitor_id(request):
        return
    visitor = Visitor.from_request(request)
    collecting = {
        route.experiment_id
        for route in get_route_table().collecting(visitor.assignments, timezone.now())
    }
    events = [
        tracking.TrackedEvent(
            type="conversion",
            experiment=route.slug,
            event_id=f"goal-page-{route.goal_page_id}",
            goal=route.primary_goal,
            url=request.build_absolute_uri()[:2000],
        )
        for route in routes
        if route.experiment_id in collecting
    ]
    if not events:
        return
    try:
        tracking.record_events(events, visitor_id=visitor.id, from_server=True,
                               counted_variants=counted_variants(request, visitor.id))
    except Exception:
        logger.exception("Could not record a goal page visit.")
