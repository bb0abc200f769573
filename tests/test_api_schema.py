"""Schemathesis against the JSON API's OpenAPI schema, in process through the site's WSGI
application.

Every operation, with valid (positive) and invalid (negative) generated requests, must answer
a documented status code with a documented content type, headers and body, never a server
error, and must reject invalid requests with a 4xx. About half of the generated slugs, paths,
goals, forms and visitor ids are the demo content's, so valid requests reach running
experiments, not only 404s.
"""

import copy
import json
import os

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from wagtail_experiments.api import api

from .conftest import BROWSER_UA
from .helpers import SERVER, new_api_token, store_api_token

API = "/_experiments/api"
RESULTS = f"{API}/experiments/{{slug}}/results"
DEMO_EXPERIMENTS = ["landing-hero", "home-banner"]
# Visitors the fixture exposes to both demo experiments, so that their generated events can
# be accepted and their leads attributed, not only rejected.
VISITORS = ["schemathesis-visitor1", "schemathesis-visitor2"]
# Known before the database exists (the configuration is built at collection time); the
# fixture stores them (Wagtail's API tokens on Wagtail 8, DRF's on 7.4).
TOKENS = {"staff": new_api_token(), "nobody": new_api_token()}
AUTHORIZATION = {}
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", 50))

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


def _config(**generation):
    half = 0.5
    return schemathesis.Config.from_dict({
        "generation": {"mode": "all", **generation},
        "checks": {
            # Too many events or too large a body (413) is a rejection too.
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 413, 415, 429],
            },
        },
        "dictionaries": {
            "experiments": {"values": DEMO_EXPERIMENTS},
            "paths": {"values": ["/", "/landing/", "/landing/?utm_source=news", "/nowhere/"]},
            "forms": {"values": ["demo-lead"]},
            "goals": {"values": ["lead", "cta"]},
            "visitors": {"values": VISITORS},
        },
        "parameters": {
            "path.slug": {"dictionary": "experiments", "probability": half},
            "query.experiment": {"dictionary": "experiments", "probability": half},
            "query.path": {"dictionary": "paths", "probability": half},
            "query.goal": {"dictionary": "goals", "probability": half},
            "query.visitor_id": {"dictionary": "visitors", "probability": half},
            "body.experiment": {"dictionary": "experiments", "probability": half},
            # Click, conversion and custom events need a goal (not in the JSON schema).
            "body.goal": {"dictionary": "goals", "probability": 0.9},
            "body.events[*].experiment": {"dictionary": "experiments", "probability": half},
            "body.events[*].goal": {"dictionary": "goals", "probability": 0.9},
            "body.form": {"dictionary": "forms", "probability": half},
        },
    })


DJANGO_APP = get_wsgi_application()


def wsgi_app(environ, start_response):
    """The site's WSGI application, except that, as in Django's test client, the database
    connection is not closed after each request: the test's transaction must survive."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = DJANGO_APP(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# From the API object, not over HTTP: the schema is loaded at collection time, when the
# database may not be used, and the site's middleware uses it. The first test checks that
# the site serves this very document.
SCHEMA_DOCUMENT = api.get_openapi_schema(path_prefix=f"{API}/")


def load_schema(config):
    loaded = schemathesis.openapi.from_dict(copy.deepcopy(SCHEMA_DOCUMENT), config=config)
    loaded.app = wsgi_app  # as `from_wsgi` does: requests, checks' probes included, go there
    return loaded


schema = load_schema(_config())
# The results again, for token holders: the token replaces generated credentials.
results_schema = load_schema(_config(**{"with-security-parameters": False})).include(path=RESULTS)


# The fixtures (database, demo content) are set up once for all of a test's examples; the
# database is rolled back after the test, not after each example.
EXAMPLES = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        hypothesis.HealthCheck.function_scoped_fixture,
        hypothesis.HealthCheck.too_slow,
    ],
)


@pytest.fixture
def api_site(demo, settings, django_user_model):
    """The demo content without rate limit; the test visitors exposed to both experiments,
    one of them converted; API tokens of a superuser and of a user without permissions."""
    settings.WAGTAIL_EXPERIMENTS = {**settings.WAGTAIL_EXPERIMENTS, "API_RATE_LIMIT": None}
    client = Client(HTTP_USER_AGENT=BROWSER_UA, **SERVER)
    for visitor_id in VISITORS:
        for query in ("path=/landing/", "experiment=home-banner"):
            response = client.get(f"{API}/assignment?{query}&visitor_id={visitor_id}")
            assert response.status_code == 200, response.content
    lead = {"form": "demo-lead", "data": {"name": "Ada", "email": "ada@example.com"}}
    response = client.post(
        f"{API}/leads?visitor_id={VISITORS[0]}", json.dumps(lead), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    users = {
        "staff": django_user_model.objects.create_superuser("schemathesis-staff", password="x"),
        "nobody": django_user_model.objects.create_user("schemathesis-nobody", password="x"),
    }
    for identity, token in TOKENS.items():
        AUTHORIZATION[identity] = store_api_token(users[identity], token, identity)
    return demo


def steer(case):
    """Point some valid generated requests where the schema cannot: it cannot say that
    `path` and `experiment` exclude each other, nor name the demo form's fields (the form is
    data). Only positive cases are changed, and they stay valid."""
    if not case.meta.generation.mode.is_positive:
        return
    query = case.query or {}
    if case.operation.path == f"{API}/assignment" and "path" in query and "experiment" in query:
        # Keep one: the experiment if it is the demo's, else the path.
        del query["path" if query["experiment"] in DEMO_EXPERIMENTS else "experiment"]
    body = case.body
    if (
        case.operation.path == f"{API}/leads"
        and isinstance(body, dict)
        and body.get("form") == "demo-lead"
        and body.get("data")
    ):
        # Empty data stays an incomplete form (a 400).
        body["data"].update(name="Ada Lovelace", email="ada@example.com")


def test_served_schema_is_the_tested_one(db):
    response = Client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    assert json.loads(response.content) == json.loads(json.dumps(SCHEMA_DOCUMENT))


def test_every_reference_in_the_schema_resolves():
    """A dangling ``$ref`` makes tools drop what it points at: Schemathesis generated no
    event bodies at all while the events body referred to an absent component."""

    def refs(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in set(refs(SCHEMA_DOCUMENT)):
        assert ref.startswith("#/"), ref
        target = SCHEMA_DOCUMENT
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
    assert schema[f"{API}/events"]["POST"].body, "no request body for Schemathesis"


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("landing-hero/results?since=2024-01-01&until=2024-01-31", 200),
        ("landing-hero/results?goal=cta", 200),
        ("landing-hero/results?goal=", 200),
        # Regressions Schemathesis found: dates as numbers (Unix timestamps) or datetimes
        # were accepted; a NUL character in the goal or slug was a 500 on PostgreSQL.
        ("landing-hero/results?since=0.0", 400),
        ("landing-hero/results?until=1704067200", 400),
        ("landing-hero/results?since=2024-01-01T00:00:00", 400),
        ("landing-hero/results?goal=%00", 400),
        ("landing-hero/results?goal=a%20b", 400),
        ("%00/results", 400),
    ],
)
def test_results_parameters_are_checked(api_site, url, status):
    client = Client(HTTP_AUTHORIZATION=AUTHORIZATION["staff"])
    response = client.get(f"{API}/experiments/{url}")
    assert response.status_code == status, response.content


@schema.parametrize()
@EXAMPLES
def test_api_conforms_to_its_schema(case, api_site):
    steer(case)
    response = case.call_and_validate(checks=CHECKS)
    if case.operation.path == f"{API}/experiments" and response.status_code == 200:
        # The config's ETag back: 304, documented too.
        etag = response.headers["etag"][0]
        again = case.call_and_validate(checks=CHECKS, headers={"If-None-Match": etag})
        assert again.status_code == 304


@results_schema.parametrize()
@pytest.mark.parametrize("identity", ["staff", "nobody"])
@EXAMPLES
def test_results_conform_to_the_schema_for_token_holders(case, identity, api_site):
    headers = {"Authorization": AUTHORIZATION[identity]}
    case.call_and_validate(checks=CHECKS, headers=headers)
