"""The one-statement tracking writes of PostgreSQL (``single_event``, ``single_exposure``),
planned once per database session instead of on every request.

Each is a data-modifying CTE whose planning costs PostgreSQL more than running it: sent
as text through psycopg's client-side binding, it is planned again on every request.
``PREPARE`` plans it once per session; each write then sends ``EXECUTE name(values)`` in
the same bounded query string as before (``sql.execute_tracking_write``). Measured on two
cores with four writers, the single-event statement went from about 1,200 to 2,400
statements/s.

The first write of a session sends the ``PREPARE`` and the ``EXECUTE`` together, under the
same bound (planning takes locks on the tables, which a slow database may hold). A prepared
statement outlives a failed transaction, so a session that already holds it (``42P05``)
simply executes it. A session that loses it (``26000``: a pooler such as PgBouncer in
transaction mode hands each transaction another server session, or the statement was
deallocated), or whose statement a migration has outdated, writes with the plain
statement for the rest of its life. Either way the
failed attempt stored nothing (its transaction ended with the error) and is sent again.
"""

from __future__ import annotations

import hashlib
import re
import weakref

from django.db import DatabaseError

from .sql import (
    execute_tracking_write,
    in_callers_transaction,
    sqlstate_of,
    tracking_transaction,
)

MISSING_STATEMENT = "26000"  # invalid_sql_statement_name
DUPLICATE_STATEMENT = "42P05"  # duplicate_prepared_statement
# "cached plan must not change result type": a migration changed a column the statement
# answers, under a process still running the statement's earlier text.
CHANGED_RESULT = "0A000"
_PREPARED, _UNUSABLE = "prepared", "unusable"
_PLACEHOLDER = re.compile(r"%[%s]")


def db_types(connection, model, *names):
    """The database types of ``model``'s fields ``names``, as a prepared statement's
    parameters are declared (a foreign key takes its target's type)."""
    return [model._meta.get_field(name).db_type(connection) for name in names]


class PreparedWrite:
    """One statement (``sql``, with ``%s`` placeholders of the declared ``types``) that
    ``run`` executes prepared where the database session allows it, else as it is."""

    def __init__(self, prefix, sql, types):
        if sum(match.group() == "%s" for match in _PLACEHOLDER.finditer(sql)) != len(types):
            raise ValueError("one declared type per %s placeholder")
        # The statement's text is in its name: sessions a pooler shares between processes
        # running different versions never execute another version's statement.
        digest = hashlib.sha256(f"{sql}{types}".encode()).hexdigest()[:16]
        self.name = f"{prefix}_{digest}"
        self.sql = sql
        numbers = iter(range(1, len(types) + 1))
        body = _PLACEHOLDER.sub(
            lambda match: f"${next(numbers)}" if match.group() == "%s" else "%%", sql
        )
        self._prepare = f"PREPARE {self.name} ({', '.join(types)}) AS {body};\n"
        self._execute = f"EXECUTE {self.name} ({', '.join(['%s'] * len(types))})"
        # Per psycopg connection (one database session): prepared, or unusable.
        self._sessions = weakref.WeakKeyDictionary()

    def run(self, connection, params, *, model):
        """Execute with ``params`` and return the first row of the result (or None).

        Outside a transaction, the ``TRACKING_DB_TIMEOUT_MS`` bound (and
        ``TRACKING_SYNCHRONOUS_COMMIT``) is set in the same query string (one implicit
        transaction); inside the caller's, the bound is set in a savepoint around it.
        Raises the database's ``OperationalError`` past the bound, having stored nothing."""
        while True:
            connection.ensure_connection()
            session = connection.connection
            state = self._sessions.get(session)
            try:
                row = self._run(connection, state, params, model)
            except DatabaseError as error:
                code = sqlstate_of(error)
                if state is None and code == DUPLICATE_STATEMENT:
                    self._sessions[session] = _PREPARED
                    continue
                if state == _PREPARED and code in (MISSING_STATEMENT, CHANGED_RESULT):
                    self._sessions[session] = _UNUSABLE
                    continue
                raise
            if state is None:
                self._sessions[session] = _PREPARED
            return row

    def _run(self, connection, state, params, model):
        if state == _UNUSABLE:
            sql, leading = self.sql, 0
        elif state == _PREPARED:
            sql, leading = self._execute, 0
        else:
            sql, leading = self._prepare + self._execute, 1
        if in_callers_transaction(connection):
            with tracking_transaction(model), connection.cursor() as cursor:
                cursor.execute(sql, params)
                return _last_result(cursor, leading)
        with connection.cursor() as cursor:
            execute_tracking_write(cursor, sql, params)
            return _last_result(cursor, leading)


def _last_result(cursor, leading):
    """The first row of the last result, past those of ``leading`` statements."""
    for _ in range(leading):
        cursor.nextset()
    return cursor.fetchone()
