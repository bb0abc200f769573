"""A big experiment's stored data, generated in set-based SQL: exposures, events, first goal
completions and daily rollups, consistent with each other the way ``tracking`` keeps them.

Rows come from ``generate_series`` in time order, visitors' sessions interleaved the way real
traffic interleaves them (a page of the event table holds events of many visitors, and the
few funnel ``step`` events are spread over the whole table). Visitor attributes (variant,
UTM source, propensities) are hashes of the visitor's number, so every statement derives
the same visitor without joins. Completions and rollups are then aggregated from the stored
rows, so they agree with the events whatever shape these are given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.utils import timezone
from psycopg import sql

from .bulk import CONNECTIONS, bulk_load, connect, execute_in_parallel

VISITORS = 1_000_000
EVENTS_PER_VISITOR = 10
# Visitors whose sessions interleave: a block of them is ~40 minutes of traffic.
SESSION_BLOCK = 1000
DAYS = 30
# (lower bound of the visitor's 0..99 hash, utm_source, utm_medium); "" is direct traffic.
UTM_SOURCES = (
    (0, "", ""),
    (40, "google", "cpc"),
    (65, "newsletter", "email"),
    (80, "facebook", "social"),
    (92, "linkedin", "social"),
)
# Per-mille of a variant's visitors (control, b, c) reaching funnel steps 1-3 of the primary
# goal, then converting with a value; and clicking the call to action.
STEP_PER_MILLE = ((50, 55, 60), (30, 34, 38), (20, 23, 26))
CONVERSION_PER_MILLE = (15, 18, 21)
CTA_PER_MILLE = (300, 320, 340)


@dataclass(frozen=True)
class Dataset:
    events: int
    visitors: int
    seconds: float


def generate(database_url, experiment, log, visitors=VISITORS):
    """Fill ``experiment`` (no data yet) with ``visitors`` times ``EVENTS_PER_VISITOR`` events."""
    from wagtail_experiments.models import DailyRollup, Event, Exposure, GoalCompletion

    started = time.monotonic()
    shape = _Shape(experiment, experiment.ordered_variants(), visitors, _settings_time_zone())
    events = visitors * EVENTS_PER_VISITOR
    parts = [
        (first * events // CONNECTIONS, (first + 1) * events // CONNECTIONS)
        for first in range(CONNECTIONS)
    ]
    loads = [
        (
            Exposure,
            "exposures",
            [(_insert(Exposure, shape.exposure_columns(), shape.visitor_rows()), shape.params)],
        ),
        (
            Event,
            "events",
            [
                (
                    _insert(Event, shape.event_columns(), shape.event_rows()),
                    {**shape.params, "first": first, "stop": stop},
                )
                for first, stop in parts
            ],
        ),
        (
            GoalCompletion,
            "first goal completions",
            [(_completions_sql(Event, GoalCompletion), shape.params)],
        ),
        (
            DailyRollup,
            "daily rollups",
            [(_rollups_sql(Event, Exposure, GoalCompletion, DailyRollup), shape.params)],
        ),
    ]
    for model, label, statements in loads:
        log(f"  {label}")
        with bulk_load(database_url, model, log):
            execute_in_parallel(database_url, statements)
    step_started = time.monotonic()
    with connect(database_url) as connection:
        for model in (Exposure, Event, GoalCompletion, DailyRollup):
            connection.execute(sql.SQL("VACUUM ANALYZE {}").format(_table(model)))
    log(f"  vacuum analyze: {time.monotonic() - step_started:.1f} s")
    return Dataset(events=events, visitors=visitors, seconds=time.monotonic() - started)


def _settings_time_zone():
    # Rollup days are local dates in the site's time zone (timezone.localdate).
    from django.conf import settings

    return settings.TIME_ZONE


class _Shape:
    """SQL expressions of the generated rows, keyed by model field name."""

    def __init__(self, experiment, variants, visitors, time_zone):
        if [variant.key for variant in variants] != ["control", "b", "c"]:
            raise ValueError("the generated shape expects variants control, b and c")
        total_weight = sum(float(variant.weight) for variant in variants)
        cumulative, bounds = 0.0, []
        for variant in variants:
            cumulative += float(variant.weight)
            bounds.append(round(10000 * cumulative / total_weight))
        self.params = {
            "experiment": experiment.pk,
            "variant_ids": [variant.pk for variant in variants],
            "variant_bounds": bounds,
            "visitors": visitors,
            "events": visitors * EVENTS_PER_VISITOR,
            "block": SESSION_BLOCK,
            "block_events": SESSION_BLOCK * EVENTS_PER_VISITOR,
            "seconds": DAYS * 86400,
            "time_zone": time_zone,
            # One "now" for every statement: the last event's time.
            "end": timezone.now(),
        }

    # Visitors ------------------------------------------------------------------------------

    def visitor_rows(self):
        """One row per visitor ``v``: its variant, landing UTM values and exposure time."""
        return sql.SQL(
            "SELECT v, {variant_index} AS vi, {hash100} AS u_source, {first_event_at} AS at "
            "FROM generate_series(0, %(visitors)s - 1) AS v OFFSET 0"
        ).format(
            variant_index=_variant_index(),
            hash100=_visitor_hash(2, 100),
            first_event_at=_event_time(
                sql.SQL("((v / %(block)s) * %(block_events)s + v %% %(block)s)")
            ),
        )

    def exposure_columns(self):
        return {
            **_utm_columns(),
            "experiment": sql.SQL("%(experiment)s"),
            "variant": sql.SQL("(%(variant_ids)s::bigint[])[vi + 1]"),
            "visitor_id": _visitor_id(),
            # Just before the visitor's first event.
            "created_at": sql.SQL("at - interval '1 second'"),
        }

    # Events --------------------------------------------------------------------------------

    def event_rows(self):
        """One row per event ``n`` from ``first`` to ``stop`` - 1, in time order: event ``k``
        of visitor ``v``, where the visitors of a session block take turns, so their
        sessions interleave. (``OFFSET 0`` keeps each level's columns computed once per row
        instead of inlined into every expression that uses them.)"""
        return sql.SQL(
            "SELECT n, v, k, vi, u_source, at, "
            "CASE WHEN k BETWEEN 6 AND 8 AND u_lead < ({steps})[vi + 1][k - 5] THEN k - 5 END "
            "AS step, "
            "u_lead < ({conversions})[vi + 1] AS converts, "
            "u_cta < ({cta})[vi + 1] AS clicks_cta "
            "FROM ("
            "SELECT n, v, k, {variant_index} AS vi, {u_source} AS u_source, "
            "{u_cta} AS u_cta, {u_lead} AS u_lead, {at} AS at "
            "FROM ("
            "SELECT n, (n / %(block_events)s) * %(block)s + n %% %(block)s AS v, "
            "(n %% %(block_events)s) / %(block)s AS k "
            # In the select list the series streams; in FROM it would be stored first.
            "FROM (SELECT generate_series(%(first)s::bigint, %(stop)s - 1) AS n) AS series "
            "OFFSET 0"
            ") AS numbered OFFSET 0"
            ") AS visitors OFFSET 0"
        ).format(
            steps=_int_array(STEP_PER_MILLE, transpose=True),
            conversions=_int_array(CONVERSION_PER_MILLE),
            cta=_int_array(CTA_PER_MILLE),
            variant_index=_variant_index(),
            u_source=_visitor_hash(2, 100),
            u_cta=_visitor_hash(3, 1000),
            u_lead=_visitor_hash(4, 1000),
            at=_event_time(sql.SQL("n")),
        )

    def event_columns(self):
        """Event k of a visitor: 0 an impression, 1-3 clicks (the call to action or the
        navigation), 4-5 scrolls, 6-8 funnel steps 1-3 of the primary goal ``lead`` or a
        video, 9 the lead conversion with a value, or a scroll."""
        return {
            **_utm_columns(),
            "experiment": sql.SQL("%(experiment)s"),
            "variant": sql.SQL("(%(variant_ids)s::bigint[])[vi + 1]"),
            "visitor_id": _visitor_id(),
            "event_id": sql.SQL("k::text"),
            "type": sql.SQL(
                "CASE WHEN k = 0 THEN 'impression' WHEN k <= 3 THEN 'click' "
                "WHEN k = 9 AND converts THEN 'conversion' ELSE 'custom' END"
            ),
            "goal": sql.SQL(
                "CASE WHEN k = 0 THEN '' "
                "WHEN k <= 3 THEN CASE WHEN clicks_cta THEN 'cta' ELSE 'nav' END "
                "WHEN step IS NOT NULL OR (k = 9 AND converts) THEN 'lead' "
                "WHEN k BETWEEN 6 AND 8 THEN 'video-played' ELSE 'scroll' END"
            ),
            "step": sql.SQL("step"),
            "value": sql.SQL("CASE WHEN k = 9 AND converts THEN 20 + (n %% 181) END"),
            "metadata": sql.SQL(
                "CASE WHEN step IS NOT NULL "
                "THEN jsonb_build_object('time_spent_ms', 800 + (n * 7919) %% 60000) "
                "ELSE '{}'::jsonb END"
            ),
            "url": sql.SQL("'/landing/'"),
            "block_id": sql.SQL(
                "CASE WHEN k BETWEEN 1 AND 3 THEN CASE WHEN clicks_cta THEN 'hero-cta' "
                "ELSE 'nav' END ELSE '' END"
            ),
            "user": sql.SQL("NULL"),
            "created_at": sql.SQL("at"),
        }


def _insert(model, columns, rows):
    """``INSERT INTO model (every concrete column but the key) SELECT columns FROM rows``.

    The column list is the model's, so a field added to the model without a generated
    value stops the benchmark instead of silently taking a default."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    names = [field.name for field in fields]
    if set(names) != set(columns):
        raise RuntimeError(
            f"{model.__name__} fields {sorted(names)} differ from the generated columns "
            f"{sorted(columns)}: update benchmarks/dataset.py"
        )
    return sql.SQL(
        "INSERT INTO {table} ({columns}) SELECT {values} FROM ({rows}) AS source"
    ).format(
        table=_table(model),
        columns=sql.SQL(", ").join(sql.Identifier(field.column) for field in fields),
        values=sql.SQL(", ").join(columns[name] for name in names),
        rows=rows,
    )


def _completions_sql(event, completion):
    """A visitor's first event of each goal (impressions complete none), like
    ``tracking._complete_goals``, with the visitor's running total of its values."""
    return sql.SQL(
        "INSERT INTO {completions} ({experiment}, {variant}, {goal}, {visitor}, {created}, "
        "{total}) "
        "SELECT {e_experiment}, {e_variant}, {e_goal}, {e_visitor}, min({e_created}), "
        "coalesce(sum({e_value}), 0) "
        "FROM {events} WHERE {e_experiment} = %(experiment)s AND {e_goal} <> '' "
        "AND {e_type} <> 'impression' "
        "GROUP BY {e_experiment}, {e_variant}, {e_goal}, {e_visitor}"
    ).format(
        completions=_table(completion),
        experiment=_column(completion, "experiment"),
        variant=_column(completion, "variant"),
        goal=_column(completion, "goal"),
        visitor=_column(completion, "visitor_id"),
        created=_column(completion, "created_at"),
        total=_column(completion, "value_total"),
        events=_table(event),
        e_experiment=_column(event, "experiment"),
        e_variant=_column(event, "variant"),
        e_goal=_column(event, "goal"),
        e_visitor=_column(event, "visitor_id"),
        e_created=_column(event, "created_at"),
        e_type=_column(event, "type"),
        e_value=_column(event, "value"),
    )


def _rollups_sql(event, exposure, completion, rollup):
    """Daily rollups as ``tracking`` keeps them: exposures under the goal "", and per goal
    the events, their values, what they added to the sum of squared visitor totals
    ((x + v)² - x² for a running total x), and the visitors completing it that day, by
    landing utm_source (the visitor's, copied onto every event)."""
    day = "({} AT TIME ZONE %(time_zone)s)::date"
    return sql.SQL(
        "INSERT INTO {rollups} ({r_experiment}, {r_variant}, {r_goal}, {r_day}, {r_source}, "
        "{r_visitors}, {r_events}, {r_value}, {r_squares}) "
        "SELECT %(experiment)s, variant, goal, day, source, sum(visitors), sum(events), "
        "sum(value), sum(squares) FROM ("
        # Exposures: one visitor and one event each.
        "SELECT {x_variant} AS variant, '' AS goal, {x_day} AS day, {x_source} AS source, "
        "1 AS visitors, 1 AS events, 0.0::float8 AS value, 0.0::float8 AS squares "
        "FROM {exposures} WHERE {x_experiment} = %(experiment)s "
        "UNION ALL "
        "SELECT variant, goal, day, source, 0, 1, value, "
        "total * total - (total - value) * (total - value) FROM ("
        "SELECT {e_variant} AS variant, {e_goal} AS goal, {e_day} AS day, "
        "{e_source} AS source, coalesce({e_value}, 0) AS value, "
        "sum(coalesce({e_value}, 0)) OVER (PARTITION BY {e_visitor}, {e_goal} "
        "ORDER BY {e_created}, {e_id}) AS total "
        "FROM {events} WHERE {e_experiment} = %(experiment)s AND {e_goal} <> '' "
        "AND {e_type} <> 'impression') AS valued "
        "UNION ALL "
        "SELECT {c_variant}, {c_goal}, {c_day}, {x_source}, 1, 0, 0, 0 "
        "FROM {completions} JOIN {exposures} "
        "ON {x_experiment} = {c_experiment} AND {x_visitor} = {c_visitor} "
        "WHERE {c_experiment} = %(experiment)s"
        ") AS counted GROUP BY variant, goal, day, source"
    ).format(
        rollups=_table(rollup),
        r_experiment=_column(rollup, "experiment"),
        r_variant=_column(rollup, "variant"),
        r_goal=_column(rollup, "goal"),
        r_day=_column(rollup, "day"),
        r_source=_column(rollup, "utm_source"),
        r_visitors=_column(rollup, "visitors"),
        r_events=_column(rollup, "events"),
        r_value=_column(rollup, "value_sum"),
        r_squares=_column(rollup, "value_sq_sum"),
        exposures=_table(exposure),
        x_experiment=_qualified(exposure, "experiment"),
        x_variant=_qualified(exposure, "variant"),
        x_visitor=_qualified(exposure, "visitor_id"),
        x_source=_qualified(exposure, "utm_source"),
        x_day=sql.SQL(day).format(_qualified(exposure, "created_at")),
        events=_table(event),
        e_experiment=_column(event, "experiment"),
        e_variant=_column(event, "variant"),
        e_goal=_column(event, "goal"),
        e_type=_column(event, "type"),
        e_source=_column(event, "utm_source"),
        e_value=_column(event, "value"),
        e_visitor=_column(event, "visitor_id"),
        e_created=_column(event, "created_at"),
        e_id=_column(event, "id"),
        e_day=sql.SQL(day).format(_column(event, "created_at")),
        completions=_table(completion),
        c_experiment=_qualified(completion, "experiment"),
        c_variant=_qualified(completion, "variant"),
        c_goal=_qualified(completion, "goal"),
        c_visitor=_qualified(completion, "visitor_id"),
        c_day=sql.SQL(day).format(_qualified(completion, "created_at")),
    )


# SQL fragments -----------------------------------------------------------------------------


def _visitor_hash(seed, modulus):
    """A uniform 0..modulus-1 of visitor ``v``, independent for each seed."""
    return sql.SQL("((hashint4extended(v::int, {}) & 2147483647) %% {})").format(
        sql.Literal(seed), sql.Literal(modulus)
    )


def _variant_index():
    """0 (control), 1 or 2, in proportion to the variants' weights."""
    u = _visitor_hash(1, 10000)
    return sql.SQL(
        "CASE WHEN {u} < (%(variant_bounds)s::int[])[1] THEN 0 "
        "WHEN {u} < (%(variant_bounds)s::int[])[2] THEN 1 ELSE 2 END"
    ).format(u=u)


def _visitor_id():
    # 21 characters, like the nanoid of the visitor cookie.
    return sql.SQL("'bench' || lpad(v::text, 16, '0')")


def _event_time(position):
    """Event ``position`` of all, spread evenly over the ``DAYS`` days up to the end."""
    return sql.SQL(
        "(%(end)s::timestamptz - make_interval(secs => %(seconds)s) "
        "+ make_interval(secs => {}::float8 * %(seconds)s / %(events)s))"
    ).format(position)


def _utm_columns():
    source = sql.SQL("CASE {} END").format(
        sql.SQL(" ").join(
            sql.SQL("WHEN u_source >= {} THEN {}").format(sql.Literal(bound), sql.Literal(name))
            for bound, name, _medium in reversed(UTM_SOURCES)
        )
    )
    medium = sql.SQL("CASE {} END").format(
        sql.SQL(" ").join(
            sql.SQL("WHEN u_source >= {} THEN {}").format(sql.Literal(bound), sql.Literal(medium))
            for bound, _name, medium in reversed(UTM_SOURCES)
        )
    )
    return {
        "utm_source": source,
        "utm_medium": medium,
        "utm_campaign": sql.SQL("CASE WHEN u_source >= 40 THEN 'spring-launch' ELSE '' END"),
        "utm_term": sql.SQL("''"),
        "utm_content": sql.SQL("''"),
    }


def _int_array(values, transpose=False):
    if transpose:
        values = [list(row) for row in zip(*values, strict=True)]
    return sql.Literal(list(values))


def _table(model):
    return sql.Identifier(model._meta.db_table)


def _column(model, name):
    return sql.Identifier(model._meta.get_field(name).column)


def _qualified(model, name):
    return sql.Identifier(model._meta.db_table, model._meta.get_field(name).column)
