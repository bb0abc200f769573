"""Bulk loading into the ORM's tables the way PostgreSQL loads fastest: unlogged, without
indexes and constraints, on both cores, then recreating them exactly as they were."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import sql

# For the loading sessions only; the measured queries run with the server's settings.
# One process per index build: two builds at once already keep both cores busy.
SESSION_SETTINGS = {
    "work_mem": "256MB",
    "maintenance_work_mem": "512MB",
    "max_parallel_maintenance_workers": "0",
}
# INSERT … SELECT runs on one core: two statements at once keep both of this machine's busy.
CONNECTIONS = 2


def connect(database_url):
    connection = psycopg.connect(database_url, autocommit=True)
    for name, value in SESSION_SETTINGS.items():
        connection.execute(sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
    return connection


def execute_in_parallel(database_url, statements):
    """Run ``(statement, params)`` pairs on ``CONNECTIONS`` connections at once."""

    def execute(item):
        statement, params = item
        with connect(database_url) as connection:
            connection.execute(statement, params)

    with ThreadPoolExecutor(max_workers=CONNECTIONS) as pool:
        # list() re-raises the first failure.
        list(pool.map(execute, statements))


@contextlib.contextmanager
def bulk_load(database_url, model, log):
    """Make ``model``'s table unlogged and drop its indexes, unique and foreign-key
    constraints (not its primary key nor its checks) while the body loads rows; then
    recreate them from their own definitions: the indexes the migrations made, built in
    one pass each, and foreign keys checked in one query each instead of a trigger per row.

    The table stays unlogged: reading it is the same, and the benchmark's database is
    dropped afterwards, while logging it again would write all of it to the WAL once more
    (longer than the load itself). After a failure nothing is recreated, for that reason.
    """
    table = sql.Identifier(model._meta.db_table)
    with connect(database_url) as connection:
        unique, foreign, indexes = _definitions(connection, model._meta.db_table)
        for name in [*unique, *foreign]:
            connection.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, sql.Identifier(name))
            )
        for name in indexes:
            connection.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        connection.execute(sql.SQL("ALTER TABLE {} SET UNLOGGED").format(table))
    started = time.monotonic()
    yield
    log(f"    rows: {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    # Every index, those of unique constraints too, two at a time; then the constraints
    # take over their indexes and check their rows.
    builds = [index for index, _deferral in unique.values()] + list(indexes.values())
    execute_in_parallel(database_url, [(sql.SQL(index), None) for index in builds])
    with connect(database_url) as connection:
        for name, (_index, deferral) in unique.items():
            connection.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE USING INDEX {} {}").format(
                    table, sql.Identifier(name), sql.Identifier(name), sql.SQL(deferral)
                )
            )
        for name, definition in foreign.items():
            connection.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    table, sql.Identifier(name), sql.SQL(definition)
                )
            )
        # Statistics for the plans of what comes next.
        connection.execute(sql.SQL("ANALYZE {}").format(table))
    log(
        f"    {len(builds)} indexes, {len(foreign)} foreign keys: "
        f"{time.monotonic() - started:.1f} s"
    )


def _definitions(connection, table):
    """({unique constraint: (CREATE UNIQUE INDEX …, deferral)}, {foreign key: definition},
    {other index but the primary key's: CREATE INDEX …})."""
    rows = connection.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid), pg_get_indexdef(conindid), "
        "condeferrable, condeferred FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('u', 'f')",
        [table],
    ).fetchall()
    unique = {
        name: (index, _deferral(deferrable, deferred))
        for name, kind, _definition, index, deferrable, deferred in rows
        if kind == "u"
    }
    foreign = {name: definition for name, kind, definition, *_ in rows if kind == "f"}
    indexes = dict(
        connection.execute(
            "SELECT index.relname, pg_get_indexdef(index.oid) FROM pg_index "
            "JOIN pg_class AS index ON index.oid = pg_index.indexrelid "
            "WHERE pg_index.indrelid = %s::regclass AND NOT pg_index.indisprimary "
            "AND pg_index.indexrelid NOT IN "
            "(SELECT conindid FROM pg_constraint WHERE conrelid = %s::regclass)",
            [table, table],
        ).fetchall()
    )
    return unique, foreign, indexes


def _deferral(deferrable, deferred):
    if not deferrable:
        return ""
    return "DEFERRABLE INITIALLY DEFERRED" if deferred else "DEFERRABLE"
