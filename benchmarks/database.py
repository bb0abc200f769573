"""A throw-away PostgreSQL database for one benchmark run, on the server of ``DATABASE_URL``."""

from __future__ import annotations

import contextlib
import os
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "wexp_bench"


def server_url():
    return os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL


def url_for_database(url, name):
    """``url`` with its database name replaced, keeping credentials, host and options."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


@contextlib.contextmanager
def dedicated_database(url=None, name=BENCH_DATABASE):
    """Create a fresh database ``name`` and yield its URL; drop it again on the way out.

    A database left over by an interrupted run is dropped first, so every run starts
    from an empty schema.
    """
    url = url or server_url()
    _drop(url, name)
    _execute(url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url_for_database(url, name)
    finally:
        _drop(url, name)


def _drop(url, name):
    # FORCE ends connections still open to it (a gunicorn worker killed mid-request, or
    # Django's persistent connections), which would otherwise block the drop.
    _execute(url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _execute(url, statement):
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)
