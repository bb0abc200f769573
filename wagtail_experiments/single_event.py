"""One event stored in one round trip, on PostgreSQL: the visitor's exposure is looked
up, the event inserted, the goal's first completion inserted and the day's rollup moved,
all by one statement (data-modifying CTEs), in the implicit transaction of one query
string that also sets the ``TRACKING_DB_TIMEOUT_MS`` bound. The same outcome as
``tracking._store_events`` after ``_exposures_by_slug``, in one exchange instead of ten:
the tracker's single events are the commonest write there is.

Used where it can be: PostgreSQL through psycopg 3's client-side binding (Django's
default), planned once per database session (``prepared``). Inside a caller's transaction
it runs in a bounded savepoint instead. Elsewhere (SQLite, psycopg 2, server-side binding)
the general path runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections, router
from django.utils import timezone

from .models import DailyRollup, Event, Exposure, GoalCompletion
from .prepared import PreparedWrite, db_types
from .rollup_sources import OTHER_SOURCES
from .sql import takes_bounded_query_strings

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass(frozen=True)
class StoredEvent:
    exposed: bool
    inserted: bool


def can_store_in_one_statement():
    return takes_bounded_query_strings(connections[router.db_for_write(Event)])


def store_event(event, *, experiment_id, visitor_id, user_id=None, at=None):
    """Store ``event`` (a ``TrackedEvent``) for the visitor's exposure to the experiment.
    Raises the database's ``OperationalError`` past the bound, having stored nothing."""
    connection = connections[router.db_for_write(Event)]
    created_at = at or timezone.now()
    counts_goal = bool(event.goal) and event.type != Event.Type.IMPRESSION
    statement, params = _statement(connection, event, counts_goal, {
        "experiment": experiment_id,
        "visitor": visitor_id,
        "user": user_id,
        "created_at": created_at,
        "day": DailyRollup.day_of(created_at),
    })
    row = statement.run(connection, params, model=Event)
    return StoredEvent(exposed=row is not None, inserted=bool(row and row[1]))


def _literal(text):
    return "'" + text.replace("'", "''") + "'"


def _table(connection, model):
    return connection.ops.quote_name(model._meta.db_table)


def _columns(connection, model, *names):
    quote = connection.ops.quote_name
    return ", ".join(quote(model._meta.get_field(name).column) for name in names)


# The event's own columns that only the event row takes, in the order of the statement's
# parameters (its goal and value are the ``given`` row's, which every part uses).
EVENT_FIELDS = ("event_id", "type", "step", "metadata", "url", "block_id", "user",
                "created_at")
# The types of the statement's first parameters (the ``given`` row), in their order.
GIVEN_TYPES = ("bigint", "text", "text", "boolean", "date", "double precision")
_statements = {}


def _statement(connection, event, counts_goal, context):
    """The statement (built once per database connection alias) and its parameters."""
    statement = _statements.get(connection.alias)
    if statement is None:
        statement = _statements[connection.alias] = PreparedWrite(
            "wexp_event", _build_statement(connection), _parameter_types(connection)
        )
    # The values as the database takes them: the schema has checked their types, and
    # only the JSON needs adapting (this is the commonest write; Django's field-by-field
    # preparation cost it a tenth of its time).
    metadata = Event._meta.get_field("metadata").get_db_prep_save(event.metadata, connection)
    return statement, [
        context["experiment"], context["visitor"], event.goal, counts_goal, context["day"],
        event.value,
        # EVENT_FIELDS
        event.event_id, event.type, event.step, metadata, event.url, event.block_id,
        context["user"], context["created_at"],
    ]


def _parameter_types(connection):
    return [*GIVEN_TYPES, *db_types(connection, Event, *EVENT_FIELDS)]


def _build_statement(connection):
    exposure, events = _table(connection, Exposure), _table(connection, Event)
    completions, rollups = _table(connection, GoalCompletion), _table(connection, DailyRollup)
    utm = _columns(connection, Exposure, *UTM_FIELDS)
    quote = connection.ops.quote_name
    counters = ("visitors", "events", "value_sum", "value_sq_sum")
    value_total = _columns(connection, GoalCompletion, "value_total")
    updates = ", ".join(
        f"{quote(name)} = {rollups}.{quote(name)} + excluded.{quote(name)}" for name in counters
    )
    placeholders = ", ".join(["%s"] * len(EVENT_FIELDS))
    return f"""
        WITH given AS (
            -- The event's value as sent (or null), and as the goal's sums take it.
            SELECT %s::bigint AS experiment, %s::text AS visitor, %s::text AS goal,
                   %s::boolean AS counts_goal, %s::date AS day, sent.value AS event_value,
                   coalesce(sent.value, 0) AS value,
                   {_literal(OTHER_SOURCES)}::text AS other_sources
            FROM (SELECT %s::float AS value) AS sent
        ), exposure AS (
            SELECT {_columns(connection, Exposure, "variant", *UTM_FIELDS)} FROM {exposure}
            WHERE {_columns(connection, Exposure, "experiment")} = (SELECT experiment FROM given)
              AND {_columns(connection, Exposure, "visitor_id")} = (SELECT visitor FROM given)
        ), inserted AS (
            INSERT INTO {events} ({_columns(connection, Event, "experiment", "variant",
                                            "visitor_id", "goal", "value", *EVENT_FIELDS,
                                            *UTM_FIELDS)})
            SELECT given.experiment, variant_id, given.visitor, given.goal, given.event_value,
                   {placeholders}, {utm}
            FROM exposure, given
            ON CONFLICT ({_columns(connection, Event, "experiment", "visitor_id", "event_id")})
            DO NOTHING
            RETURNING variant_id, utm_source, created_at
        ), completed AS (
            -- The first completion, or (for a valued event) the visitor's running total
            -- of the goal moved on: xmax = 0 marks a row this statement inserted.
            INSERT INTO {completions} AS completion ({_columns(
                connection, GoalCompletion, "experiment", "variant", "goal", "visitor_id",
                "created_at", "value_total")})
            SELECT given.experiment, variant_id, given.goal, given.visitor, created_at,
                   given.value
            FROM inserted, given WHERE given.counts_goal
            ON CONFLICT ({_columns(connection, GoalCompletion, "experiment", "goal",
                                   "visitor_id")})
            DO UPDATE SET {value_total} = completion.{value_total} + excluded.{value_total}
            WHERE excluded.{value_total} <> 0
            RETURNING completion.xmax = 0 AS first_time, completion.{value_total} AS total
        ), rolled_up AS (
            INSERT INTO {rollups} ({_columns(connection, DailyRollup, "experiment", "variant",
                                             "goal", "day", "utm_source", *counters)})
            SELECT given.experiment, variant_id, given.goal, given.day,
                -- As the exposure was rolled up: its source, unless the experiment had
                -- admitted too many sources by then (see rollup_sources).
                CASE WHEN utm_source = '' OR EXISTS (
                    SELECT 1 FROM {rollups} AS seen
                    WHERE seen.experiment_id = given.experiment
                      AND seen.variant_id = inserted.variant_id
                      AND seen.goal = '' AND seen.utm_source = inserted.utm_source
                ) THEN utm_source ELSE given.other_sources END,
                (SELECT count(*) FROM completed WHERE first_time), 1, given.value,
                -- (x + v)² - x² for the visitor's total x before this value v.
                coalesce((SELECT total * total - (total - given.value) * (total - given.value)
                          FROM completed), 0)
            FROM inserted, given WHERE given.counts_goal
            ON CONFLICT ({_columns(connection, DailyRollup, "experiment", "variant", "goal",
                                   "day", "utm_source")})
            DO UPDATE SET {updates}
        )
        SELECT variant_id, (SELECT count(*) FROM inserted) FROM exposure
    """
