"""Which running experiment owns a URL: the in-process route table and its invalidation.

Every process keeps an immutable ``RouteTable`` built from the database. A version key in
the shared Django cache says when it is stale: any change to experiments, variants, goals,
pages, view restrictions or sites writes a new version (immediately and again after commit), and
each process compares versions at most every ``ROUTE_TABLE_RECHECK_SECONDS``. A request
therefore never queries the database to learn whether its URL is under test.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote

import swapper
from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from wagtail.fields import StreamField
from wagtail.models import PageViewRestriction, Revision, Site
from wagtail.signals import page_published, page_unpublished, post_page_move

from .conf import get_setting
from .targeting import Targeting

logger = logging.getLogger(__name__)

VERSION_CACHE_KEY = "wagtail_experiments:route_table_version"


@dataclass(frozen=True)
class RoutedVariant:
    id: int
    key: str
    is_control: bool
    weight: float
    # None for the variants of code-level experiments.
    page_id: int | None
    # The live, specific page, loaded once per table build; served via ``fresh_page``.
    page: object = field(repr=False, compare=False)
    # Whether any view restriction (its own or an ancestor's) guards the page.
    restricted: bool = False
    # (attname, raw JSON) of each StreamField, taken before anything rendered the page.
    stream_data: tuple = field(default=(), repr=False, compare=False)
    # Handed to code with the assignment (feature flags); callers get copies.
    payload: dict = field(default_factory=dict, repr=False, compare=False)
    # The page's own full URL, published to headless front ends and edge workers.
    url: str | None = None

    def fresh_page(self):
        """The page as a fresh database load would give it, without the query.

        A shallow copy keeps per-request attributes apart; StreamField values are rebuilt
        lazily from raw JSON, so chooser blocks (snippets, images, pages) are looked up
        for this request instead of served from what an earlier request cached.
        """
        page = copy.copy(self.page)
        for attname, raw in self.stream_data:
            setattr(page, attname, page._meta.get_field(attname).to_python(raw))
        return page


@dataclass(frozen=True)
class Route:
    """A served experiment. Code-level experiments have no path, control page or URL, and
    ``site_id`` is None unless they are limited to one site."""

    experiment_id: int
    slug: str
    seed: str
    hash_version: int
    coverage: float
    site_id: int | None
    path: str | None
    control_page_id: int | None
    control_url: str
    status: str
    starts_at: datetime | None
    ends_at: datetime | None
    variants: tuple[RoutedVariant, ...]
    # Set once a completed experiment's winner is served to everyone: no bucketing then.
    winner_key: str | None = None
    # A visit to this page counts as reaching ``primary_goal``.
    goal_page_id: int | None = None
    primary_goal: str = ""
    # {name: GoalRule} of the declared goals: events for any other goal are rejected.
    goals: dict = field(default_factory=dict, compare=False)
    targeting: Targeting = field(default_factory=Targeting)
    # The control page, and whether a view restriction (its own or an ancestor's) guards
    # it: kept even when only a promoted winner is served at its URL.
    control_page: object = field(default=None, repr=False, compare=False)
    control_restricted: bool = False

    @property
    def restricted(self):
        """Whether any page this route serves is behind a view restriction."""
        return self.control_restricted or any(variant.restricted for variant in self.variants)

    @property
    def is_code_level(self):
        return self.control_page_id is None

    def applies_to_request(self, request):
        """Whether the request's site may see this experiment (a code-level experiment
        limited to one site; page experiments are found by their site already)."""
        if self.site_id is None:
            return True
        site = Site.find_for_request(request)
        return site is not None and site.pk == self.site_id

    @property
    def weights(self):
        return [variant.weight for variant in self.variants]

    def is_live_at(self, moment):
        """Whether the router serves this route at ``moment``."""
        if self.winner_key is not None:
            return True
        if self.status == "scheduled" and (self.starts_at is None or self.starts_at > moment):
            return False
        return self.ends_at is None or moment < self.ends_at

    def collects_at(self, moment):
        """Whether exposures, events and conversions still count: not once the experiment
        is over, even while its promoted winner is served."""
        return self.winner_key is None and self.is_live_at(moment)

    def variant_by_key(self, key):
        return next((variant for variant in self.variants if variant.key == key), None)

    def variant_by_id(self, variant_id):
        return next((variant for variant in self.variants if variant.id == variant_id), None)


@dataclass(frozen=True)
class RouteTable:
    version: str
    routes: tuple[Route, ...] = ()
    by_path: dict = field(default_factory=dict)
    by_slug: dict = field(default_factory=dict)
    by_variant_page: dict = field(default_factory=dict)
    experiment_ids: frozenset = frozenset()
    # Experiments still counting visitors (not those only serving a promoted winner).
    collecting_ids: frozenset = frozenset()
    by_experiment_id: dict = field(default_factory=dict)
    by_goal_page: dict = field(default_factory=dict)

    @classmethod
    def from_routes(cls, version, routes):
        by_path = {}
        for route in routes:
            if route.path is not None:
                by_path.setdefault(route.path, []).append(route)
        return cls(
            version=version,
            routes=tuple(routes),
            by_path=by_path,
            by_slug={route.slug: route for route in routes},
            by_variant_page={
                variant.page_id: route
                for route in routes
                for variant in route.variants
                if not variant.is_control and variant.page_id is not None
            },
            experiment_ids=frozenset(route.experiment_id for route in routes),
            collecting_ids=frozenset(r.experiment_id for r in routes if r.winner_key is None),
            by_experiment_id={route.experiment_id: route for route in routes},
            by_goal_page=_group_by_goal_page(routes),
        )

    def collecting(self, experiment_ids, moment):
        """The routes of ``experiment_ids`` (e.g. a visitor's remembered assignments) that
        still count exposures, events and conversions at ``moment``."""
        routes = (self.by_experiment_id.get(experiment_id) for experiment_id in experiment_ids)
        return [route for route in routes if route is not None and route.collects_at(moment)]

    def find(self, site_id, path):
        for route in self.by_path.get(path, ()):
            if route.site_id == site_id:
                return route
        return None


def _group_by_goal_page(routes):
    grouped = {}
    for route in routes:
        if route.goal_page_id is not None and route.winner_key is None:
            grouped.setdefault(route.goal_page_id, []).append(route)
    return grouped


def build_route_table(version):
    """Read every routable experiment, with its live pages, into a new table."""
    from .models import Experiment

    Page = swapper.load_model("wagtailcore", "Page")
    experiments = list(Experiment.objects.routable().prefetch_related("variants", "goals"))
    page_ids = {
        variant.page_id for experiment in experiments for variant in experiment.variants.all()
    }
    page_ids.update(experiment.control_page_id for experiment in experiments)
    page_ids.discard(None)
    pages = {page.pk: page for page in Page.objects.filter(pk__in=page_ids).specific()}
    revision_ids = {
        variant.revision_id for experiment in experiments for variant in experiment.variants.all()
    }
    revision_ids.discard(None)
    revisions = {revision.pk: revision for revision in Revision.objects.filter(pk__in=revision_ids)}
    routes = []
    for experiment in experiments:
        route = _route_for(experiment, pages, revisions)
        if route is not None:
            routes.append(route)
    return RouteTable.from_routes(version, routes)


def _route_for(experiment, pages, revisions):
    control = pages.get(experiment.control_page_id)
    variants = experiment.ordered_variants()
    winner_key = None
    if experiment.serve_winner:
        variants = [variant for variant in variants if variant.pk == experiment.winner_id]
        winner_key = variants[0].key if variants else None
    if experiment.is_code_level:
        return _code_level_route(experiment, variants, winner_key)
    # A page experiment without its control page (deleted) falls through to "not served".
    served_pages = {variant.key: _served_page(variant, pages, revisions) for variant in variants}
    missing = [key for key, page in served_pages.items() if page is None]
    too_few = len(variants) < (1 if experiment.serve_winner else 2)
    if control is None or not control.live or missing or too_few:
        # Serving half an experiment would bias it: show the control page to everyone.
        logger.warning(
            "Experiment %r is not served: its control page is missing or unpublished, or "
            "variants %s have no page or pinned content.",
            experiment.slug,
            missing,
        )
        return None
    url_parts = control.get_url_parts()
    if url_parts is None:
        logger.warning("Experiment %r is not served: its control page has no URL.", experiment.slug)
        return None
    site_id, root_url, path = url_parts
    # get_url_parts gives an IRI-encoded path ("/caf%C3%A9/"); request.path is decoded.
    path = unquote(path)
    return Route(
        **_experiment_fields(experiment, winner_key),
        site_id=site_id,
        path=path,
        control_page_id=control.pk,
        control_url=(root_url or "") + path,
        control_page=control,
        control_restricted=control.get_view_restrictions().exists(),
        variants=tuple(
            _routed_variant(variant, served_pages[variant.key], pages[variant.page_id].live)
            for variant in variants
        ),
    )


def _served_page(variant, pages, revisions):
    """What visitors of ``variant`` are served: the control's live page, else the variant
    page's pinned revision, as the page object Wagtail would build from it. None when the
    page or its pinned revision is gone (the experiment is then not served)."""
    page = pages.get(variant.page_id)
    if page is None or variant.is_control:
        return page if page is None or page.live else None
    revision = revisions.get(variant.revision_id)
    if revision is None or revision.object_id != str(page.pk):
        return None
    served = page.with_content_json(revision.content)
    # A draft variant page is live at the control URL, for whatever templates ask.
    served.live = True
    return served


def _code_level_route(experiment, variants, winner_key):
    """A feature-flag experiment: nothing to serve, only variants for code to ask about."""
    if len(variants) < (1 if experiment.serve_winner else 2):
        logger.warning("Experiment %r is not served: it has too few variants.", experiment.slug)
        return None
    return Route(
        **_experiment_fields(experiment, winner_key),
        site_id=experiment.target_site_id,
        path=None,
        control_page_id=None,
        control_url="",
        variants=tuple(_routed_variant(variant) for variant in variants),
    )


def _routed_variant(variant, page=None, own_page_live=False):
    """The variant as the router keeps it; ``page`` is what it serves (none: code-level),
    ``own_page_live`` whether its page is also public at its own URL."""
    page_fields = {}
    if page is not None:
        page_fields = {
            "page_id": page.pk,
            "page": page,
            "restricted": page.get_view_restrictions().exists(),
            "stream_data": _raw_stream_data(page),
            # A draft variant page has no public URL of its own.
            "url": _full_url(page) if own_page_live else None,
        }
    return RoutedVariant(
        id=variant.pk,
        key=variant.key,
        is_control=variant.is_control,
        weight=float(variant.weight),
        payload=variant.payload or {},
        **{"page_id": None, "page": None, **page_fields},
    )


def _full_url(page):
    parts = page.get_url_parts()
    return None if parts is None else (parts[1] or "") + parts[2]


def _experiment_fields(experiment, winner_key):
    return {
        "experiment_id": experiment.pk,
        "slug": experiment.slug,
        "seed": experiment.hash_seed or experiment.slug,
        "hash_version": experiment.hash_version,
        "coverage": float(experiment.coverage) / 100,
        "status": experiment.status,
        "starts_at": experiment.starts_at,
        "ends_at": experiment.ends_at,
        "winner_key": winner_key,
        "goal_page_id": experiment.goal_page_id,
        "primary_goal": experiment.primary_goal,
        "goals": experiment.goal_rules(),
        "targeting": experiment.targeting(),
    }


def _raw_stream_data(page):
    return tuple(
        (field.attname, field.get_prep_value(getattr(page, field.attname)))
        for field in page._meta.concrete_fields
        if isinstance(field, StreamField)
    )


class _ProcessState:
    """The process's current table; shared by all threads, the lock guards rebuilds."""

    def __init__(self):
        self.table = None
        self.checked_at = float("-inf")
        self.lock = threading.Lock()


_state = _ProcessState()
_EMPTY_TABLE = RouteTable(version="")


def _cache():
    return caches[get_setting("CACHE_ALIAS")]


def _shared_version():
    cache = _cache()
    version = cache.get(VERSION_CACHE_KEY)
    if version is None:
        cache.add(VERSION_CACHE_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_CACHE_KEY)
    return version


def get_route_table():
    """The current table; queries the database only when it has been invalidated."""
    table = _state.table
    now = time.monotonic()
    if table is not None and now - _state.checked_at < get_setting("ROUTE_TABLE_RECHECK_SECONDS"):
        return table
    recheck = get_setting("ROUTE_TABLE_RECHECK_SECONDS")
    with _state.lock:
        # Another thread may have refreshed the table while this one waited.
        if _state.table is not None and time.monotonic() - _state.checked_at < recheck:
            return _state.table
        try:
            version = _shared_version()
            table = _state.table
            if table is None or table.version != version:
                table = build_route_table(version)
                _state.table = table
        except Exception:
            # Serving pages matters more than serving experiments: without a table every
            # page is served as it is. Waiting a recheck interval before trying again keeps
            # a slow cache or database from holding up every request on this lock.
            logger.exception("Could not load experiment routes; serving pages unchanged.")
            _state.checked_at = time.monotonic()
            return _state.table or _EMPTY_TABLE
        _state.checked_at = time.monotonic()
    return table


def invalidate_route_table(**kwargs):
    """Publish a new version now, and again once the current transaction commits.

    The second write closes the race where another process rebuilds from data this
    transaction has not committed yet and caches that under the new version.
    """
    _publish_new_version()
    transaction.on_commit(_publish_new_version)


def _publish_new_version():
    try:
        _cache().set(VERSION_CACHE_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:
        logger.exception("Could not publish a new experiment route table version.")
    _state.table = None


def _invalidate_on_page_change(sender, instance, **kwargs):
    from wagtail.models import Page

    if isinstance(instance, Page):
        invalidate_route_table()


def connect_invalidation_signals():
    from .models import Experiment, Goal, Variant

    uid = "wagtail_experiments.routing"
    for model in (Experiment, Variant, Goal, PageViewRestriction, Site):
        post_save.connect(invalidate_route_table, sender=model, dispatch_uid=f"{uid}.save.{model}")
        post_delete.connect(
            invalidate_route_table, sender=model, dispatch_uid=f"{uid}.delete.{model}"
        )
    # Page subclasses send these with their own class as sender, so listen to all senders.
    post_save.connect(_invalidate_on_page_change, dispatch_uid=f"{uid}.page_save")
    post_delete.connect(_invalidate_on_page_change, dispatch_uid=f"{uid}.page_delete")
    for signal in (page_published, page_unpublished, post_page_move):
        signal.connect(invalidate_route_table, dispatch_uid=f"{uid}.{id(signal)}")
