"""A first exposure stored in one round trip, on PostgreSQL: the exposure inserted (or
left alone when the visitor is already counted), the day's rollup moved for a new one,
and the variant of record answered, by one statement (data-modifying CTEs) in the
implicit transaction of one query string that also sets the ``TRACKING_DB_TIMEOUT_MS``
bound. The same outcome as ``tracking.record_exposure``'s general path (a transaction
with the bound, the insert, the rollup upsert, a commit: four exchanges), for the write
every new visitor's first view makes.

Used where ``single_event`` is (PostgreSQL through psycopg 3's client-side binding,
outside a caller's transaction), and like it planned once per database session
(``prepared``); elsewhere the general path runs.
"""

from __future__ import annotations

from django.db import connections, router

from .models import DailyRollup, Exposure
from .prepared import PreparedWrite, db_types
from .sql import in_callers_transaction, takes_bounded_query_strings

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
EXPOSURE_FIELDS = ("experiment", "variant", "visitor_id", "created_at", *UTM_FIELDS)
_statements = {}


def can_store_in_one_statement():
    connection = connections[router.db_for_write(Exposure)]
    return not in_callers_transaction(connection) and takes_bounded_query_strings(connection)


def store_exposure(exposure, rolled_up_source):
    """Store ``exposure`` (an unsaved ``Exposure``) unless the visitor already has one.
    Returns ``(variant id of record, inserted)``; ``(None, False)`` when a concurrent
    first view of the same visitor committed while this statement ran (it is counted, by
    that one). Raises the database's ``OperationalError`` past the bound, storing nothing."""
    connection = connections[router.db_for_write(Exposure)]
    statement = _statements.get(connection.alias)
    if statement is None:
        statement = _statements[connection.alias] = PreparedWrite(
            "wexp_exposure", _build_statement(connection), _parameter_types(connection)
        )
    values = [
        Exposure._meta.get_field(name).get_db_prep_save(
            getattr(exposure, Exposure._meta.get_field(name).attname), connection
        )
        for name in EXPOSURE_FIELDS
    ]
    params = [*values, DailyRollup.EXPOSURES, DailyRollup.day_of(exposure.created_at),
              rolled_up_source, exposure.experiment_id, exposure.visitor_id]
    row = statement.run(connection, params, model=Exposure)
    return (row[0], row[1]) if row else (None, False)


def _parameter_types(connection):
    """The types of ``store_exposure``'s parameters, in their order."""
    return [
        *db_types(connection, Exposure, *EXPOSURE_FIELDS),
        *db_types(connection, DailyRollup, "goal", "day", "utm_source"),
        *db_types(connection, Exposure, "experiment", "visitor_id"),
    ]


def _build_statement(connection):
    quote = connection.ops.quote_name

    def columns(model, *names):
        return ", ".join(quote(model._meta.get_field(name).column) for name in names)

    exposures, rollups = (quote(model._meta.db_table) for model in (Exposure, DailyRollup))
    counters = ("visitors", "events", "value_sum", "value_sq_sum")
    updates = ", ".join(
        f"{quote(name)} = {rollups}.{quote(name)} + excluded.{quote(name)}" for name in counters
    )
    variant = columns(Exposure, "variant")
    return f"""
        WITH inserted AS (
            INSERT INTO {exposures} ({columns(Exposure, *EXPOSURE_FIELDS)})
            VALUES ({", ".join(["%s"] * len(EXPOSURE_FIELDS))})
            ON CONFLICT ({columns(Exposure, "experiment", "visitor_id")}) DO NOTHING
            RETURNING {columns(Exposure, "experiment", "variant")}
        ), rolled_up AS (
            INSERT INTO {rollups} ({columns(DailyRollup, "experiment", "variant", "goal", "day",
                                            "utm_source", *counters)})
            SELECT {columns(Exposure, "experiment")}, {variant}, %s, %s::date, %s, 1, 1, 0, 0
            FROM inserted
            ON CONFLICT ({columns(DailyRollup, "experiment", "variant", "goal", "day",
                                  "utm_source")})
            DO UPDATE SET {updates}
        )
        SELECT {variant}, true FROM inserted
        UNION ALL
        -- Already counted: the stored exposure's variant stays the truth (the statement's
        -- snapshot shows rows committed before it began).
        SELECT {variant}, false FROM {exposures}
        WHERE {columns(Exposure, "experiment")} = %s AND {columns(Exposure, "visitor_id")} = %s
          AND NOT EXISTS (SELECT 1 FROM inserted)
    """
