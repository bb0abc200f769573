"""The supported-versions matrix: `make test-matrix` (or `nox`) runs every session.

`make test` is the default combination (the newest Wagtail on the oldest Python: Python
3.11, Django 5.2 LTS, Wagtail 8.0) on SQLite, or PostgreSQL with DATABASE_URL. These sessions
run the full suite on every other supported combination, the newest one on PostgreSQL too,
and install the built wheel into a brand-new `wagtail start` site on each Wagtail line.
Keep `dependencies` in pyproject.toml admitting exactly what is listed here.
"""

import glob
import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

# (Python, Django, Wagtail). Django 6.x needs Python 3.12 or newer. Wagtail 7.4 lists
# Django up to 6.0 and sets no upper bound, so pip may pair it with 6.1: tested too.
MATRIX = [
    ("3.11", "5.2", "7.4"),
    ("3.12", "6.0", "7.4"),
    ("3.13", "6.1", "7.4"),
    ("3.12", "5.2", "8.0"),
    ("3.13", "6.0", "8.0"),
    ("3.13", "6.1", "8.0"),
]
NEWEST = MATRIX[-1]
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"

# pyenv keeps each Python in a folder of its own; its shims only answer for the selected
# version, so put every installed 3.11/3.12/3.13 on PATH for nox to find.
_pyenv_bins = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[123].*/bin")))
if _pyenv_bins:
    os.environ["PATH"] = os.pathsep.join([*_pyenv_bins, os.environ.get("PATH", "")])


def _label(python, django, wagtail):
    return f"py{python}-dj{django}-wt{wagtail}"


def _install(session, django, wagtail):
    session.install(
        "--quiet", "-e", ".[test]", f"Django~={django}.0", f"wagtail~={wagtail}.0"
    )
    session.run(
        "python", "-c",
        "import django, wagtail; print('Django', django.get_version(), "
        "'Wagtail', wagtail.__version__)",
    )


@nox.session
@nox.parametrize(
    "python,django,wagtail", MATRIX, ids=[_label(*combination) for combination in MATRIX]
)
def tests(session, django, wagtail):
    """The full suite on SQLite."""
    _install(session, django, wagtail)
    session.run("pytest", "-q", *session.posargs, env={"DATABASE_URL": ""})


@nox.session(name="tests_postgres", python=NEWEST[0])
def tests_postgres(session):
    """The full suite of the newest combination on PostgreSQL."""
    _, django, wagtail = NEWEST
    _install(session, django, wagtail)
    database_url = os.environ.get("DATABASE_URL") or POSTGRES_URL
    session.run("pytest", "-q", *session.posargs, env={"DATABASE_URL": database_url})


# The LTS pair, the site of the report (Wagtail 7.4 on Django 6.0), and the newest.
SITE_INSTALLS = [("3.11", "5.2", "7.4"), ("3.12", "6.0", "7.4"), ("3.13", "6.1", "8.0")]


@nox.session
@nox.parametrize(
    "python,django,wagtail",
    SITE_INSTALLS,
    ids=[_label(*combination) for combination in SITE_INSTALLS],
)
def site_install(session, django, wagtail):
    """The wheel into a new `wagtail start` site that runs this Wagtail and Django."""
    session.install("--quiet", "pytest", "pytest-django", "-e", ".[sandbox]")
    session.run(
        "pytest", "-q", "-p", "no:cacheprovider", "tests/test_site_install.py",
        *session.posargs,
        env={"WEXP_SITE_WAGTAIL": wagtail, "WEXP_SITE_DJANGO": django, "DATABASE_URL": ""},
    )
