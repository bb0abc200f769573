"""Two writes the ORM cannot express portably, in SQL that SQLite (3.35+) and PostgreSQL
share: an insert-or-ignore that reports what it inserted, and counter upserts.

Both make concurrent, replayed writes exact: a row is new for exactly one writer, and a
counter is incremented in the database, never read-modified-written in Python.
"""

import logging
from contextlib import contextmanager
from functools import lru_cache

from django.db import OperationalError, connections, router, transaction

from .conf import get_setting

logger = logging.getLogger(__name__)

# PostgreSQL's deadlock_detected and serialization_failure, and lock_not_available and
# query_canceled (a wait past TRACKING_DB_TIMEOUT_MS: concurrent writers of one hot row
# queue for it; in the one-statement write of ``single_event`` the statement's own bound
# often fires first): safe to retry the whole write, a bounded number of times.
CONTENTION_SQLSTATES = {"40P01", "40001", "55P03", "57014"}
_ATTEMPTS = 3


def _connection(model):
    return connections[router.db_for_write(model)]


def _column(model, name, connection):
    return connection.ops.quote_name(model._meta.get_field(name).column)


def insert_ignoring_conflicts(model, objects, conflict_fields, returning):
    """``INSERT … ON CONFLICT (conflict_fields) DO NOTHING RETURNING returning``.

    Returns one tuple per row actually inserted; rows that hit the unique constraint
    (replays, or a concurrent writer that got there first) are silently left out.
    """
    if not objects:
        return []
    connection = _connection(model)
    quote = connection.ops.quote_name
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES {', '.join([row] * len(objects))} "
        f"ON CONFLICT ({', '.join(_column(model, f, connection) for f in conflict_fields)}) "
        f"DO NOTHING RETURNING {', '.join(_column(model, f, connection) for f in returning)}"
    )
    params = [
        field.get_db_prep_save(field.pre_save(obj, add=True), connection)
        for obj in objects
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def add_to_counters(model, key_fields, counter_fields, rows):
    """Upsert ``rows`` (dicts of key and counter values), adding counters to existing rows.

    Rows are merged by key first (one statement may not touch a row twice) and written in
    key order, so concurrent writers take row locks in the same order and cannot deadlock.
    """
    merged = {}
    for row in rows:
        key = tuple(row[name] for name in key_fields)
        totals = merged.setdefault(key, dict.fromkeys(counter_fields, 0))
        for name in counter_fields:
            totals[name] += row[name]
    if not merged:
        return
    connection = _connection(model)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = [*key_fields, *counter_fields]
    fields = [model._meta.get_field(name) for name in names]
    columns = [quote(field.column) for field in fields]
    key_columns = columns[: len(key_fields)]
    updates = ", ".join(
        f"{column} = {table}.{column} + excluded.{column}"
        for column in columns[len(key_fields) :]
    )
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {updates}"
    )
    params = [
        [
            field.get_db_prep_save(value, connection)
            for field, value in zip(fields, (*key, *totals.values()), strict=True)
        ]
        for key, totals in sorted(merged.items(), key=lambda item: tuple(map(str, item[0])))
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


_RESTORE_TIMEOUTS = (
    "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)"
)


@contextmanager
def bounded_transaction(model, milliseconds, *, synchronous_commit=True):
    """A transaction (a savepoint inside another) in which PostgreSQL gives up waiting for a
    lock, or running a statement, after ``milliseconds``, raising ``OperationalError``:
    tracking must never hold up a page or a worker for long. The bound is undone on leaving
    (a savepoint's, explicitly; a transaction's, by its end). Other databases get a plain
    transaction (SQLite waits up to its own busy timeout).

    ``synchronous_commit=False``: a transaction of its own (never a caller's) commits
    without waiting for its WAL to reach the disk (see ``TRACKING_SYNCHRONOUS_COMMIT``)."""
    connection = _connection(model)
    postgresql = connection.vendor == "postgresql"
    bounded = bool(milliseconds) and postgresql
    nested = in_callers_transaction(connection)
    # Inside the caller's transaction the bound it replaces is put back on leaving.
    restores = bounded and nested
    settings = _settings_sql(
        milliseconds if bounded else None,
        synchronous_commit or nested or not postgresql,
        keep_previous=restores,
    )
    with transaction.atomic(using=connection.alias):
        if settings:
            with connection.cursor() as cursor:
                cursor.execute(settings)
                previous = cursor.fetchone()[:2]
        yield
        if restores:
            with connection.cursor() as cursor:
                cursor.execute(_RESTORE_TIMEOUTS, list(previous))


def in_callers_transaction(connection):
    """Whether a transaction the caller owns is open: an ``atomic`` block, or autocommit
    turned off (whose transaction ``atomic`` only adds a savepoint to). A tracking write
    there never changes how that transaction commits."""
    return connection.in_atomic_block or not connection.get_autocommit()


@lru_cache(maxsize=16)
def _settings_sql(milliseconds, synchronous_commit, keep_previous=False):
    """The SELECT that sets a tracking write's bound and commit (with ``keep_previous``,
    answering the timeouts it replaces first), or None: nothing to set. Kept, as the
    settings rarely change: every tracked write asks for it."""
    columns = []
    if keep_previous:
        columns += ["current_setting('lock_timeout')", "current_setting('statement_timeout')"]
    if milliseconds:
        # A number, written into the text: one fewer value for every write to quote.
        bound = f"'{int(milliseconds)}ms'"
        columns += [f"set_config('lock_timeout', {bound}, true)",
                    f"set_config('statement_timeout', {bound}, true)"]
    if not synchronous_commit:
        columns.append("set_config('synchronous_commit', 'off', true)")
    return f"SELECT {', '.join(columns)}" if columns else None


def sqlstate_of(error):
    """PostgreSQL's SQLSTATE code of a database error, or None (other databases)."""
    return getattr(error.__cause__, "sqlstate", None)


def retrying(write, *args):
    """``write(*args)``, run again (at most three attempts in all) when it lost a race for a
    row or waited past its bound; each attempt must be a whole transaction or savepoint."""
    attempt = 1
    while True:
        try:
            return write(*args)
        except OperationalError as error:
            if sqlstate_of(error) not in CONTENTION_SQLSTATES or attempt == _ATTEMPTS:
                raise
            logger.warning(
                "Retrying a tracking write after %s (attempt %s).", sqlstate_of(error), attempt
            )
            attempt += 1


def tracking_transaction(model, *, synchronous_commit=None):
    """``bounded_transaction`` for the writes and lookups of tracking (exposures, events,
    leads, rate counters), bounded by the ``TRACKING_DB_TIMEOUT_MS`` setting, committed as
    ``TRACKING_SYNCHRONOUS_COMMIT`` says unless ``synchronous_commit`` is given."""
    if synchronous_commit is None:
        synchronous_commit = get_setting("TRACKING_SYNCHRONOUS_COMMIT")
    return bounded_transaction(
        model, get_setting("TRACKING_DB_TIMEOUT_MS"), synchronous_commit=synchronous_commit
    )


def takes_bounded_query_strings(connection):
    """Whether ``connection`` runs a query string of several statements, with parameters,
    as one implicit transaction: PostgreSQL through psycopg 3's client-side binding
    (psycopg 2 gives no result of later statements; server-side binding takes one)."""
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    options = connection.settings_dict.get("OPTIONS", {})
    return is_psycopg3 and options.get("server_side_binding") is not True


def execute_tracking_write(cursor, sql, params):
    """Run ``sql`` outside a transaction, as one query string behind the settings of a
    tracking write: the ``TRACKING_DB_TIMEOUT_MS`` bound and ``TRACKING_SYNCHRONOUS_COMMIT``
    (its implicit transaction carries them, and commits as it ends; see
    ``takes_bounded_query_strings``), leaving ``cursor`` at ``sql``'s result."""
    preamble = _settings_sql(
        get_setting("TRACKING_DB_TIMEOUT_MS"), get_setting("TRACKING_SYNCHRONOUS_COMMIT")
    )
    if preamble is None:
        cursor.execute(sql, params)
        return
    cursor.execute(f"{preamble};\n{sql}", params)
    cursor.nextset()  # past the set_config row


def increment_counter(model, key, window, expires_at):
    """Add one to the ``(key, window)`` counter row of ``model`` (a ``RateCounter``) and
    return the new count: one atomic upsert, so concurrent requests each count once.

    Outside a transaction on PostgreSQL it is one query string with its bound, committed
    by the server as it ends: the row is locked only while PostgreSQL runs it, never while
    Python is busy elsewhere (concurrent requests of one client queue on that row)."""
    connection = _connection(model)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    key_column, window_column, count_column, expires_column = (
        _column(model, name, connection) for name in ("key", "window", "count", "expires_at")
    )
    sql = (
        f"INSERT INTO {table} ({key_column}, {window_column}, {count_column}, {expires_column}) "
        f"VALUES (%s, %s, 1, %s) "
        f"ON CONFLICT ({key_column}, {window_column}) "
        f"DO UPDATE SET {count_column} = {table}.{count_column} + 1 "
        f"RETURNING {count_column}"
    )
    params = [key, window, expires_at]
    if not in_callers_transaction(connection) and takes_bounded_query_strings(connection):
        with connection.cursor() as cursor:
            execute_tracking_write(cursor, sql, params)
            return cursor.fetchone()[0]
    with tracking_transaction(model), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]
