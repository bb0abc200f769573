"""Wagtail API v2 that knows about experiments: ``find`` by ``html_path`` returns the
variant page the visitor is served at that URL.

Register it in the site's API router instead of Wagtail's ``PagesAPIViewSet``::

    api_router = WagtailAPIRouter("wagtailapi")
    api_router.register_endpoint("pages", ExperimentPagesAPIViewSet)

or mix ``ExperimentFindMixin`` into the site's own subclass. When the visitor is served the
control page, ``find`` redirects to its detail URL as Wagtail's does; when they are served a
variant, it answers with the variant's pinned content itself, in the detail format (a
variant page is usually a draft, which the API does not list or serve by its id). The
visitor comes from the ``wexp_vid`` cookie or a ``visitor_id`` parameter (server-to-server),
and without either the page stays as it is.
"""

from __future__ import annotations

from rest_framework.exceptions import PermissionDenied, Throttled
from rest_framework.response import Response
from wagtail.api.v2.utils import BadRequestError
from wagtail.api.v2.views import PagesAPIViewSet

from . import headless, throttling
from .assignment import is_valid_visitor_id
from .middleware import VARIANT_HEADER, mark_per_visitor
from .visitor import SERVER_KEY_REQUIRED, cookie_visitor_id, is_trusted_server

_EXPERIMENT_PARAMETERS = frozenset(["visitor_id", "expose"])


class ExperimentFindMixin:
    """For a ``PagesAPIViewSet`` subclass: variant-aware ``find?html_path=``."""

    known_query_parameters = PagesAPIViewSet.known_query_parameters | _EXPERIMENT_PARAMETERS
    # Used to find the page only: not passed on to the detail URL ``find`` redirects to.
    find_query_parameters = PagesAPIViewSet.find_query_parameters | _EXPERIMENT_PARAMETERS

    def find_object(self, queryset, request):
        page = super().find_object(queryset, request)
        self.experiment_assignment = None
        if page is None or "html_path" not in request.GET:
            return page
        # The Django request under DRF's: the middleware reads the visitor from it to set
        # the cookies.
        request = getattr(request, "_request", request)
        named = request.GET.get("visitor_id")
        if named and not is_trusted_server(request):
            raise PermissionDenied(SERVER_KEY_REQUIRED)
        visitor_id = named or cookie_visitor_id(request)
        if visitor_id and not is_valid_visitor_id(visitor_id):
            raise BadRequestError("visitor_id must be 21 characters from A-Z a-z 0-9 _ -")
        expose = request.GET.get("expose", "true").lower()
        if expose not in ("true", "false"):
            raise BadRequestError("expose must be true or false")
        # Bucketing (and counting) a visitor draws on the assignment API's budget.
        if not throttling.hit(throttling.ASSIGNMENT, throttling.client_address(request)):
            raise Throttled(wait=throttling.retry_after(throttling.ASSIGNMENT))
        result = headless.assignment_for_path(
            request,
            request.GET["html_path"],
            # Without a visitor only a promoted winner changes the page.
            visitor=headless.visitor_for(request, visitor_id) if visitor_id else None,
            expose=False,
            page=page,
        )
        served = result.page
        if result.variant_served is not None and result.variant_served.restricted:
            # This API serves no private page, even to a browser that passed its
            # restriction: the page as it is, and nothing counted for an unseen variant.
            return page
        if expose == "true":
            headless.count_pending(request, result)
        self.experiment_assignment = result
        if result.variant_served is not None:
            self.served_variant = served
        return page

    def find_view(self, request):
        self.served_variant = None
        response = super().find_view(request)
        if self.served_variant is not None:
            response = self._variant_response(request, self.served_variant)
        result = getattr(self, "experiment_assignment", None)
        if result is not None and result.experiment is not None:
            response[VARIANT_HEADER] = f"{result.experiment}={result.variant}"
        if result is not None and result.visitor is not None:
            # The answer depends on the visitor: no shared cache may keep it.
            mark_per_visitor(response)
        return response


    def _variant_response(self, request, variant_page):
        """The variant's pinned content, in the detail format, instead of a redirect: a
        variant page (usually a draft) has no public detail URL. It is presented where it is
        seen, at the control URL: its own slug and URL would reveal the test (and 404)."""
        control = self.experiment_assignment.requested_page
        variant_page.slug, variant_page.url_path = control.slug, control.url_path
        self._cached_object = variant_page
        data = self.get_serializer(variant_page).data
        meta = data.get("meta", {})
        if "detail_url" in meta:
            meta["detail_url"] = request.build_absolute_uri()
        return Response(data)


class ExperimentPagesAPIViewSet(ExperimentFindMixin, PagesAPIViewSet):
    """Wagtail's pages endpoint, with variant-aware ``find``."""
