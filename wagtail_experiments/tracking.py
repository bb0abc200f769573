"""Recording exposures and events, and rolling them up. Knows nothing about HTTP.

Every write is idempotent (unique constraints + insert-or-ignore), so replays and races
are counted once, and counters move only for rows that were really inserted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from django.utils import timezone

from . import exposure_buffer, single_event, single_exposure
from .attribution import utm_from_query
from .models import DailyRollup, Event, Exposure, GoalCompletion, Variant
from .rollup_sources import rolled_up_source
from .routing import get_route_table
from .sql import add_to_counters, insert_ignoring_conflicts, retrying, tracking_transaction

logger = logging.getLogger(__name__)

ROLLUP_KEY = ("experiment", "variant", "goal", "day", "utm_source")
ROLLUP_COUNTERS = ("visitors", "events", "value_sum", "value_sq_sum")
# Exposures per INSERT of a batch: well inside every database's parameter limit.
EXPOSURE_BATCH = 500


def record_exposure(*, experiment_id, variant_id, visitor_id, utm=None, at=None):
    """Store a visitor's first exposure to an experiment; later calls store nothing.
    ``at``: when it happened (default: now), for history recorded after the fact.

    Returns the id of the variant the visitor is recorded in (this one, or the one of an
    earlier exposure, which stays the truth), or None when storing failed, so the caller
    only marks the visitor as counted once the database agrees.
    """
    exposure = new_exposure(
        experiment_id=experiment_id, variant_id=variant_id, visitor_id=visitor_id, utm=utm,
        at=at,
    )
    try:
        if single_exposure.can_store_in_one_statement():
            source = rolled_up_source(experiment_id, exposure.utm_source, admit=True)
            return single_exposure.store_exposure(exposure, source)[0]
        with tracking_transaction(Exposure):
            if not insert_ignoring_conflicts(
                Exposure, [exposure], ["experiment", "visitor_id"], returning=["id"]
            ):
                return _recorded_variant_id(experiment_id, visitor_id)
            add_to_counters(
                DailyRollup,
                ROLLUP_KEY,
                ROLLUP_COUNTERS,
                [_rollup_row(exposure, DailyRollup.EXPOSURES, visitors=1)],
            )
    except Exception:
        logger.exception("Could not record an exposure to experiment %s.", experiment_id)
        return None
    return variant_id


def new_exposure(*, experiment_id, variant_id, visitor_id, utm=None, at=None):
    """An unsaved first exposure, for ``record_exposure`` or ``record_exposures``."""
    return Exposure(
        experiment_id=experiment_id, variant_id=variant_id, visitor_id=visitor_id,
        created_at=at or timezone.now(), **(utm or {})
    )


def record_exposures(exposures):
    """Store a batch of first exposures (unsaved ``Exposure`` objects) in one transaction,
    leaving visitors already counted alone; returns how many were new. Raises on a
    database error, having stored none of them (``exposure_buffer`` writes through this)."""
    unique = {(row.experiment_id, row.visitor_id): row for row in reversed(exposures)}
    rows = [unique[key] for key in sorted(unique)]  # one lock order for every writer
    # A variant (or experiment) deleted while its exposures waited: they cannot be stored,
    # and must not hold up the others.
    existing = set(Variant.objects.filter(pk__in={row.variant_id for row in rows})
                   .values_list("pk", "experiment_id"))
    gone = [row for row in rows if (row.variant_id, row.experiment_id) not in existing]
    if gone:
        logger.warning("Dropped %s buffered exposures of deleted variants.", len(gone))
        rows = [row for row in rows if (row.variant_id, row.experiment_id) in existing]
    inserted = set()
    with tracking_transaction(Exposure):
        for start in range(0, len(rows), EXPOSURE_BATCH):
            chunk = rows[start:start + EXPOSURE_BATCH]
            inserted.update(insert_ignoring_conflicts(
                Exposure, chunk, ["experiment", "visitor_id"],
                returning=["experiment", "visitor_id"],
            ))
        add_to_counters(
            DailyRollup, ROLLUP_KEY, ROLLUP_COUNTERS,
            [_rollup_row(row, DailyRollup.EXPOSURES, visitors=1)
             for row in rows if (row.experiment_id, row.visitor_id) in inserted],
        )
    return len(inserted)


def recorded_variant_id(experiment_id, visitor_id):
    """The variant of the visitor's stored exposure to the experiment, or None. Bounded
    like the writes: a locked table raises ``OperationalError`` instead of waiting."""
    with tracking_transaction(Exposure, synchronous_commit=True):  # reads: nothing to commit
        return _recorded_variant_id(experiment_id, visitor_id)


def _recorded_variant_id(experiment_id, visitor_id):
    return (
        Exposure.objects.filter(experiment_id=experiment_id, visitor_id=visitor_id)
        .values_list("variant_id", flat=True)
        .first()
    )


@dataclass
class TrackedEvent:
    """An event that passed schema validation; the variant is not part of it."""

    type: str
    experiment: str
    event_id: str
    goal: str = ""
    step: int | None = None
    value: float | None = None
    metadata: dict = field(default_factory=dict)
    url: str = ""
    block_id: str = ""


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list = field(default_factory=list)  # [{"index": i, "error": "..."}]


def record_events(events, *, visitor_id, user_id=None, served_variants=None,
                  counted_variants=None, from_server=False, at=None):
    """Attribute ``events`` to the variants ``visitor_id`` was exposed to, store them once
    each, and roll them up. Events of unknown or stopped experiments, of experiments the
    visitor never saw, or of goals the experiment does not declare (or with a value the
    goal does not take) are rejected with a reason and not stored.

    ``served_variants`` ({experiment id: variant key}, from the signed assignment cookie)
    lets an impression event record the exposure itself (client-side exposure mode).
    ``counted_variants`` (the same, in server exposure mode: the cookie is set only for a
    counted exposure) stands in for an exposure the database does not have (yet): one still
    in the ``exposure_buffer``, or lost from it, is stored before the event.
    ``from_server``: the plugin itself records these (a lead, a goal page visit), so
    server-only goals may count. ``at``: when they happened (default: now).
    """
    result = IngestResult()
    routes = get_route_table().by_slug
    refusals = [_goal_refusal(event, routes, from_server) for event in events]
    slugs = {event.experiment for event, refusal in zip(events, refusals, strict=True)
             if refusal is None}
    if served_variants:
        _expose_on_impression(events, routes, visitor_id, served_variants)
    elif len(events) == 1 and refusals[0] is None and single_event.can_store_in_one_statement():
        return _record_one_event(events[0], routes, visitor_id, user_id, at, counted_variants)
    exposures = {}
    if slugs:
        with tracking_transaction(Exposure, synchronous_commit=True):  # reads
            exposures = _exposures_by_slug(routes, visitor_id, slugs)
        missing = {slug for slug, (exposure, _) in exposures.items() if exposure is None}
        if counted_variants and missing and expose_from_cookie(
            [routes[slug] for slug in missing if slug in routes], visitor_id, counted_variants
        ):
            with tracking_transaction(Exposure, synchronous_commit=True):  # reads
                exposures.update(_exposures_by_slug(routes, visitor_id, missing))
    candidates = []
    for index, (event, refusal) in enumerate(zip(events, refusals, strict=True)):
        # Every event without a refusal has its experiment's entry in ``exposures``.
        exposure, error = exposures.get(event.experiment, (None, refusal))
        if refusal is None and exposure is not None:
            candidates.append(_event_row(event, exposure, user_id, at))
        else:
            result.rejected.append({"index": index, "error": refusal or error})
    if candidates:
        inserted = retrying(_store_events, candidates)
        result.accepted = len(inserted)
        result.duplicates = len(candidates) - len(inserted)
    return result


def _record_one_event(event, routes, visitor_id, user_id, at=None, counted_variants=None):
    """``record_events`` of one event, in one statement (``single_event``)."""
    result = IngestResult()
    route = routes.get(event.experiment)
    if route is None or not route.collects_at(timezone.now()):
        result.rejected.append({"index": 0, "error": _not_running(event.experiment)})
        return result

    def store():
        return retrying(lambda: single_event.store_event(
            event, experiment_id=route.experiment_id, visitor_id=visitor_id,
            user_id=user_id, at=at,
        ))

    stored = store()
    if not stored.exposed and counted_variants and expose_from_cookie(
            [route], visitor_id, counted_variants):
        stored = store()
    if not stored.exposed:
        result.rejected.append({"index": 0, "error": _never_exposed(event.experiment)})
    elif stored.inserted:
        result.accepted = 1
    else:
        result.duplicates = 1
    return result


def _goal_refusal(event, routes, from_server):
    """Why ``event``'s goal or value cannot count, or None. An experiment the table does
    not serve is left to ``_exposures_by_slug``'s reason."""
    route = routes.get(event.experiment)
    if route is None or not event.goal:
        return None
    rule = route.goals.get(event.goal)
    if rule is None:
        return f"Goal {event.goal!r} is not declared by experiment {event.experiment!r}."
    return rule.refusal(event, from_server=from_server)


def _expose_on_impression(events, routes, visitor_id, served_variants):
    now = timezone.now()
    for event in events:
        route = routes.get(event.experiment)
        if event.type != Event.Type.IMPRESSION or route is None or not route.collects_at(now):
            continue
        variant = route.variant_by_key(served_variants.get(route.experiment_id))
        if variant is not None:
            record_exposure(
                experiment_id=route.experiment_id,
                variant_id=variant.id,
                visitor_id=visitor_id,
                utm=utm_from_query(dict(parse_qsl(urlsplit(event.url).query))),
            )


def expose_from_cookie(routes, visitor_id, counted_variants):
    """Store the exposures to ``routes``' experiments that the signed cookie vouches for
    (``counted_variants``) and the database lacks (see ``exposure_buffer``): this process's
    buffered one if it holds it (its time and UTM values), else one as of now. True if the
    cookie vouched for any, so the caller looks again (another writer may have stored it
    meanwhile, which a one-statement write, seeing its own snapshot, does not report)."""
    now = timezone.now()
    vouched = False
    for route in routes:
        variant = route.variant_by_key(counted_variants.get(route.experiment_id))
        if variant is None or not route.collects_at(now):
            continue
        vouched = True
        buffered = exposure_buffer.buffer.take(route.experiment_id, visitor_id)
        recorded = record_exposure(
            experiment_id=route.experiment_id, variant_id=variant.id, visitor_id=visitor_id,
            utm=buffered.utm() if buffered is not None else None,
            at=buffered.created_at if buffered is not None else None,
        )
        if buffered is None and recorded is not None:
            logger.info("Restored an exposure to experiment %s from its assignment cookie.",
                        route.experiment_id)
    return vouched


def _exposures_by_slug(routes, visitor_id, slugs):
    """{slug: (exposure, None)} for exposed visitors, else {slug: (None, reason)}."""
    now = timezone.now()
    live = {
        slug: routes[slug] for slug in slugs if slug in routes and routes[slug].collects_at(now)
    }
    live_ids = [route.experiment_id for route in live.values()]
    found = {
        exposure.experiment_id: exposure
        for exposure in Exposure.objects.filter(visitor_id=visitor_id, experiment_id__in=live_ids)
    }
    outcome = {}
    for slug in slugs:
        if slug not in live:
            outcome[slug] = (None, _not_running(slug))
        elif live[slug].experiment_id not in found:
            outcome[slug] = (None, _never_exposed(slug))
        else:
            outcome[slug] = (found[live[slug].experiment_id], None)
    return outcome


def _not_running(slug):
    return f"Experiment {slug!r} is unknown or not running."


def _never_exposed(slug):
    return f"This visitor was never exposed to experiment {slug!r}."


def _event_row(event, exposure, user_id, at=None):
    return Event(
        created_at=at or timezone.now(),
        experiment_id=exposure.experiment_id,
        variant_id=exposure.variant_id,
        visitor_id=exposure.visitor_id,
        event_id=event.event_id,
        type=event.type,
        goal=event.goal,
        step=event.step,
        value=event.value,
        metadata=event.metadata,
        url=event.url,
        block_id=event.block_id,
        user_id=user_id,
        **exposure.utm(),
    )


def _store_events(rows):
    """Insert the events; the new ones complete goals and move the rollups."""
    # One row per idempotency key (a batch may repeat an id), sorted so concurrent batches
    # lock unique-index entries in the same order.
    unique = {(row.experiment_id, row.visitor_id, row.event_id): row for row in reversed(rows)}
    rows = [unique[key] for key in sorted(unique)]
    with tracking_transaction(Event):
        inserted = {
            (experiment_id, event_id)
            for experiment_id, event_id in insert_ignoring_conflicts(
                Event,
                rows,
                ["experiment", "visitor_id", "event_id"],
                returning=["experiment", "event_id"],
            )
        }
        new_rows = [row for row in rows if (row.experiment_id, row.event_id) in inserted]
        goal_rows = [row for row in new_rows if row.goal and row.type != Event.Type.IMPRESSION]
        completed = _complete_goals(goal_rows)
        squares = _add_to_visitor_totals(goal_rows)
        rollups = []
        for row in goal_rows:
            first_time = completed.pop((row.experiment_id, row.goal), False)
            rollups.append(_rollup_row(row, row.goal, visitors=int(first_time), events=1,
                                       value_sum=row.value or 0.0,
                                       value_sq_sum=squares.get(id(row), 0.0)))
        add_to_counters(DailyRollup, ROLLUP_KEY, ROLLUP_COUNTERS, rollups)
    return new_rows


def _complete_goals(goal_rows):
    """Insert first completions; returns {(experiment id, goal): True} for the new ones."""
    firsts = {}
    for row in goal_rows:
        firsts.setdefault((row.experiment_id, row.goal), row)
    completions = [
        GoalCompletion(
            experiment_id=row.experiment_id,
            variant_id=row.variant_id,
            goal=row.goal,
            visitor_id=row.visitor_id,
            created_at=row.created_at,
        )
        for row in firsts.values()
    ]
    inserted = insert_ignoring_conflicts(
        GoalCompletion,
        completions,
        ["experiment", "goal", "visitor_id"],
        returning=["experiment", "goal"],
    )
    return dict.fromkeys(inserted, True)


def _add_to_visitor_totals(goal_rows):
    """Add the values of new events to their visitors' running totals of each goal.

    Returns {id(row): what the visitor's new total added to the sum of squared totals},
    for one row per visitor and goal: (x + v)² - x² for a total x and the values v added.
    The completion row is locked while it is read and written, so concurrent events of one
    visitor add up in some order, each exactly once.
    """
    added, carrier = {}, {}
    for row in goal_rows:
        if row.value:
            key = (row.experiment_id, row.goal, row.visitor_id)
            added[key] = added.get(key, 0.0) + row.value
            carrier[key] = row
    squares = {}
    for key in sorted(added):
        experiment_id, goal, visitor_id = key
        completion = GoalCompletion.objects.select_for_update().filter(
            experiment_id=experiment_id, goal=goal, visitor_id=visitor_id
        )
        before = completion.values_list("value_total", flat=True).first()
        if before is None:
            continue
        after = before + added[key]
        completion.update(value_total=after)
        squares[id(carrier[key])] = after * after - before * before
    return squares


def _rollup_row(row, goal, *, visitors=0, events=1, value_sum=0.0, value_sq_sum=0.0):
    return {
        "experiment": row.experiment_id,
        "variant": row.variant_id,
        "goal": goal,
        "day": DailyRollup.day_of(row.created_at),
        "utm_source": rolled_up_source(
            row.experiment_id, row.utm_source, admit=goal == DailyRollup.EXPOSURES
        ),
        "visitors": visitors,
        "events": events,
        "value_sum": value_sum,
        "value_sq_sum": value_sq_sum,
    }


