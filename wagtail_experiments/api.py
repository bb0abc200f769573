"""The JSON API (django-ninja). HTTP concerns only: parsing, limits, status codes.

Sites include ``wagtail_experiments.urls``; the sandbox mounts it at ``/_experiments/``,
so the events endpoint is ``POST /_experiments/api/events``.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.middleware.csrf import get_token
from django.utils import timezone
from django.utils.cache import patch_cache_control
from ninja import NinjaAPI, Status
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import ValidationError

from . import headless, tracking
from .assignment import is_valid_visitor_id
from .attribution import utm_from_query
from .compat import get_permission_policy, results_api_auth
from .conf import get_setting
from .exclusions import is_bot, may_track
from .leads.forms import build_form
from .leads.models import LeadForm
from .leads.submission import attributed_visitor_id, save_lead
from .middleware import PERSONALISED
from .models import Experiment
from .public_config import running_experiments_config
from .results import experiment_results
from .routing import get_route_table
from .schemas import (
    MAX_EVENTS_PER_REQUEST,
    AssignmentOut,
    CsrfTokenOut,
    ErrorOut,
    EventBatchIn,
    EventIn,
    EventsAccepted,
    ExperimentsConfigOut,
    GoalName,
    IsoDate,
    LeadCreated,
    LeadIn,
    ResultsOut,
    Slug,
    VisitorExperimentsOut,
    has_control_characters,
    is_parsable_url,
)
from .throttling import ASSIGNMENT, CONFIG, EVENTS, LEADS, EndpointThrottle
from .visitor import (
    SERVER_KEY_HEADER,
    SERVER_KEY_REQUIRED,
    Visitor,
    cookie_visitor_id,
    counted_variants,
    is_trusted_server,
    logged_in_user,
)

MAX_BODY_BYTES = 64 * 1024


class ApiError(Exception):
    def __init__(self, status, detail, errors=()):
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, list(errors)


logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="wagtail_experiments",
    version="1",
    description=(
        "Experiments for Wagtail sites, server-rendered or headless: the running "
        "experiments' configuration, visitors' assignments, events, leads and results."
    ),
    urls_namespace="wagtail_experiments_api",
)
# Public config: its max-age bounds how long edge workers keep bucketing with an old one.
CONFIG_MAX_AGE = 60
VISITOR_ID_DESCRIPTION = (
    "For server-to-server calls (a front-end server acting for a visitor): the visitor's "
    "id (21 characters, A-Z a-z 0-9 _ -) instead of the wexp_vid cookie. Only with the "
    "X-Experiments-Key header holding one of the site's SERVER_KEYS (else 403): a browser "
    "that could name any id could choose its variant."
)
SERVER_KEY_DESCRIPTION = "One of the site's SERVER_KEYS: required with visitor_id."


def _visitor_id_parameters():
    return [
        _visitor_id_parameter(),
        {"name": SERVER_KEY_HEADER, "in": "header", "required": False,
         "description": SERVER_KEY_DESCRIPTION, "schema": {"type": "string"}},
    ]


def _visitor_id_parameter():
    return {
        "name": "visitor_id",
        "in": "query",
        "required": False,
        "description": VISITOR_ID_DESCRIPTION,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{21}$"},
    }


@api.exception_handler(ApiError)
def api_error(request, error):
    body = {"detail": error.detail, "errors": error.errors}
    return api.create_response(request, body, status=error.status)


# Seconds a client should wait after a 503 before trying again.
RETRY_AFTER_SECONDS = 5


@api.exception_handler(DatabaseError)
def database_unavailable(request, error):
    """An outage, or a tracking write past ``TRACKING_DB_TIMEOUT_MS``: the API's JSON error,
    never Django's HTML 500, and never "accepted" for something not stored. Logged without
    the error's text, which can quote submitted data."""
    logger.error("The database refused an API request (%s); answered 503.", type(error).__name__)
    response = api.create_response(
        request,
        {"detail": "The database is busy or unavailable; nothing was stored. Retry later.",
         "errors": []},
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@api.exception_handler(NinjaValidationError)
def validation_error(request, error):
    # ninja answers 422 by default; this API promises 400 with readable messages.
    return api.create_response(
        request,
        {"detail": "Invalid request.", "errors": _readable(error.errors)},
        status=400,
    )


def _readable(errors):
    return [
        {
            "field": ".".join(str(part) for part in error.get("loc", ()) if part != "body"),
            "message": error.get("msg", "invalid"),
        }
        for error in errors
    ]


def read_json_body(request, max_bytes=MAX_BODY_BYTES):
    """The request's JSON document, or an ``ApiError`` saying precisely what is wrong."""
    content_type = request.content_type or ""
    if content_type != "application/json":
        raise ApiError(415, "Send the body as JSON, with Content-Type: application/json.")
    declared = request.headers.get("Content-Length", "0")
    if (declared.isdigit() and int(declared) > max_bytes) or len(request.body) > max_bytes:
        raise ApiError(413, f"The body must be at most {max_bytes} bytes.")
    try:
        return json.loads(request.body, parse_constant=_refuse_non_finite)
    except RecursionError as error:
        raise ApiError(400, "The JSON document is nested too deeply.") from error
    except ValueError as error:
        raise ApiError(400, f"The body is not valid JSON: {error}.") from error


def validated(schema, payload, detail):
    """``payload`` as ``schema``, or a 400 naming every invalid field."""
    try:
        return schema.model_validate(payload)
    except ValidationError as error:
        raise ApiError(400, detail, _readable(error.errors())) from error


def _refuse_non_finite(name):
    raise ValueError(f"{name} is not a JSON number")


def parse_events(payload):
    """One event or ``{"events": [...]}`` → list of ``TrackedEvent``; 400/413 otherwise."""
    batch = isinstance(payload, dict) and "events" in payload
    if batch and isinstance(payload["events"], list) and (
        len(payload["events"]) > MAX_EVENTS_PER_REQUEST
    ):
        raise ApiError(413, f"Send at most {MAX_EVENTS_PER_REQUEST} events per request.")
    detail = "Invalid event data; nothing was stored."
    if batch:
        events = validated(EventBatchIn, payload, detail).events
    else:
        events = [validated(EventIn, payload, detail)]
    return [
        tracking.TrackedEvent(
            type=event.type,
            experiment=event.experiment,
            event_id=event.id,
            goal=event.goal or "",
            step=event.step,
            value=event.value,
            metadata=event.metadata,
            url=event.url or "",
            block_id=event.block or "",
        )
        for event in events
    ]


def named_visitor_id(request):
    """The ``visitor_id`` query parameter, checked; "" when absent. Only a server with one
    of the ``SERVER_KEYS`` may name a visitor."""
    visitor_id = request.GET.get("visitor_id", "")
    if not visitor_id:
        return ""
    if not is_trusted_server(request):
        raise ApiError(
            403,
            SERVER_KEY_REQUIRED,
            [{"field": "visitor_id", "message": "not allowed without a server key"}],
        )
    if not is_valid_visitor_id(visitor_id):
        raise ApiError(
            400,
            "Malformed visitor_id: expected 21 characters from A-Z a-z 0-9 _ -.",
            [{"field": "visitor_id", "message": "not a visitor id"}],
        )
    return visitor_id


def required_visitor_id(request):
    visitor_id = named_visitor_id(request)
    if not may_track(request):
        raise ApiError(403, "This visitor has not consented to tracking; nothing was stored.")
    visitor_id = visitor_id or cookie_visitor_id(request)
    if not visitor_id:
        raise ApiError(
            400, "No visitor: the visitor cookie is missing or malformed, and no visitor_id."
        )
    return visitor_id


def user_id(request):
    user = logged_in_user(request)
    return user.pk if user else None


def _inlined_json_schema(model):
    """``model``'s JSON schema with its ``$defs`` inlined. Left in place, they would sit
    inside the OpenAPI document's request body, where no ``$ref`` can point at them (refs
    start from the document's root, whose components do not list request-only models)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)


_EVENTS_BODY_SCHEMA = {"anyOf": [_inlined_json_schema(EventIn), _inlined_json_schema(EventBatchIn)]}


@api.post(
    "/events",
    response={
        202: EventsAccepted, 400: ErrorOut, 403: ErrorOut, 413: ErrorOut, 415: ErrorOut,
        429: ErrorOut, 503: ErrorOut,
    },
    throttle=[EndpointThrottle(EVENTS)],
    summary="Track events",
    description=(
        "One event or {\"events\": [...]} (at most 100, body at most 64 KB) for the visitor "
        "of the wexp_vid cookie or of the visitor_id parameter. The variant is derived by the "
        "server. Events of unknown or stopped experiments, of experiments the visitor never "
        "saw, of goals the experiment does not declare or declares server-only, and values "
        "a goal does not take are rejected, each with its reason."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _EVENTS_BODY_SCHEMA}},
        },
        "parameters": _visitor_id_parameters(),
    },
)
def post_events(request):
    events = parse_events(read_json_body(request))
    visitor_id = required_visitor_id(request)
    if is_bot(request):
        # As on pages: bots, and clients that send no User-Agent, are never counted. A
        # front-end server forwards its visitor's User-Agent.
        not_counted = "Not counted: the client is a bot or sent no User-Agent."
        rejected = [{"index": index, "error": not_counted} for index in range(len(events))]
        return _events_answer(0, 0, rejected)
    served = {}
    if get_setting("EXPOSURE_MODE") == "client" and visitor_id == cookie_visitor_id(request):
        # The signed assignment cookie, not the payload, says which variant was served.
        served = Visitor.from_request(request).assignments
    result = tracking.record_events(
        events, visitor_id=visitor_id, user_id=user_id(request), served_variants=served,
        counted_variants=counted_variants(request, visitor_id),
    )
    return _events_answer(result.accepted, result.duplicates, result.rejected)


def _events_answer(accepted, duplicates, rejected):
    """The 202 of ``EventsAccepted``, written directly: built from plain counts and the
    store's own reasons, it needs no response validation, which cost the commonest
    request of the API a tenth of its time."""
    body = {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}
    return JsonResponse(body, status=202)


def _lead_form_errors(form):
    return [
        {"field": f"data.{name}" if name != "__all__" else "data", "message": str(message)}
        for name, messages in form.errors.items()
        for message in messages
    ]


@api.post(
    "/leads",
    response={
        201: LeadCreated, 400: ErrorOut, 403: ErrorOut, 413: ErrorOut, 415: ErrorOut,
        429: ErrorOut, 503: ErrorOut,
    },
    throttle=[EndpointThrottle(LEADS)],
    summary="Submit a lead",
    description=(
        "Validates the data like the HTML form and stores a lead attributed to the running "
        "experiments the visitor (wexp_vid cookie or visitor_id parameter, optional) was "
        "exposed to."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": LeadIn.model_json_schema(ref_template="#/components/schemas/{model}")
                }
            },
        },
        "parameters": _visitor_id_parameters(),
    },
)
def post_lead(request):
    detail = "Invalid lead; nothing was stored."
    visitor_id = named_visitor_id(request)
    lead_in = validated(LeadIn, read_json_body(request), detail)
    lead_form = LeadForm.objects.filter(slug=lead_in.form).first()
    if lead_form is None:
        unknown = {"field": "form", "message": f"No lead form {lead_in.form!r}."}
        raise ApiError(400, detail, [unknown])
    form = build_form(lead_form, lead_in.data)
    if not form.is_valid():
        raise ApiError(400, detail, _lead_form_errors(form))
    attributed = attributed_visitor_id(request, visitor_id or cookie_visitor_id(request))
    lead = save_lead(
        lead_form,
        form.cleaned_data,
        visitor_id=attributed,
        counted_variants=counted_variants(request, attributed),
        referrer=request.headers.get("Referer", ""),
        user_id=user_id(request),
        utm=utm_from_query(request.GET),
    )
    return Status(201, {"id": lead.pk})


@api.get(
    "/experiments",
    response={200: ExperimentsConfigOut, 304: None, 429: ErrorOut},
    throttle=[EndpointThrottle(CONFIG)],
    summary="Running experiments' configuration",
    description=(
        "Everything an edge worker or a GrowthBook SDK needs to compute the server's bucket "
        "for a visitor id: seeds, hash versions, coverage, normalised weights (use them as "
        f"they are) and targeting rules. Cacheable for {CONFIG_MAX_AGE} s; send the ETag "
        "back in If-None-Match to get 304 Not Modified."
    ),
)
def get_experiments_config(request):
    body = json.dumps(
        running_experiments_config(get_route_table(), timezone.now()),
        separators=(",", ":"),
        sort_keys=True,
    )
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=CONFIG_MAX_AGE)
    return response


@api.get(
    "/visitor/experiments",
    response={200: VisitorExperimentsOut, 429: ErrorOut},
    throttle=[EndpointThrottle(CONFIG)],
    summary="The experiments this browser's visitor is in",
    description=(
        "The slugs of the running experiments that the visitor of this request's cookies "
        "is in, as the tracker sends events for them. The tracker asks for them on pages "
        "served from a shared cache (the SHARED_CACHE setting), which name nobody's "
        "experiments. Read from the signed cookie: no database query. Never cached."
    ),
)
def get_visitor_experiments(request):
    return _visitors_own(request, {"experiments": headless.tracked_experiments(request)})


def _visitors_own(request, body):
    """A JSON answer that is this visitor's alone: no cache may keep it, for them or others."""
    setattr(request, PERSONALISED, True)
    response = JsonResponse(body)
    patch_cache_control(response, private=True, no_store=True)
    return response


@api.get(
    "/csrf-token",
    response={200: CsrfTokenOut, 429: ErrorOut},
    throttle=[EndpointThrottle(CONFIG)],
    summary="A CSRF token for a lead form",
    description=(
        "A token for the `csrfmiddlewaretoken` field of an HTML lead form on a page served "
        "from a shared cache (the SHARED_CACHE setting), whose cached copy carries none; "
        "the response sets the visitor's CSRF cookie. Never cached."
    ),
)
def get_csrf_token(request):
    return _visitors_own(request, {"token": get_token(request)})


@api.get(
    "/assignment",
    response={
        200: AssignmentOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 429: ErrorOut,
        503: ErrorOut,
    },
    throttle=[EndpointThrottle(ASSIGNMENT)],
    summary="A visitor's assignment",
    description=(
        "Give `path` (a URL path on the requesting site; its query string, if any, counts as "
        "the landing URL's, for UTM attribution and targeting) to learn which page the visitor "
        "is served there, or `experiment` (a code-level experiment's slug) for the visitor's "
        "variant and payload. The visitor comes from the wexp_vid cookie or `visitor_id`, "
        "and gets the cookie. A first assignment counts as an exposure unless `expose=false` "
        "(prefetching, cache warming). A path outside any experiment returns its page with "
        "`experiment: null`; 404 only when no page exists."
    ),
    openapi_extra={"parameters": _visitor_id_parameters()},
)
def get_assignment(
    request, path: str | None = None, experiment: str | None = None, expose: bool = True
):
    if (path is None) == (experiment is None):
        raise ApiError(400, "Give either path or experiment.")
    if path is not None and (
        not path.startswith("/") or path.startswith("//") or len(path) > 2000
        or has_control_characters(path) or not is_parsable_url(path)
    ):
        invalid = {"field": "path", "message": "invalid"}
        raise ApiError(400, "path must be a URL path starting with /.", [invalid])
    visitor = headless.visitor_for(request, named_visitor_id(request))
    # The answer is this visitor's: no shared cache may keep it for others.
    setattr(request, PERSONALISED, True)
    try:
        if path is not None:
            result = headless.assignment_for_path(request, path, visitor=visitor, expose=expose)
        else:
            result = headless.assignment_for_experiment(
                request, experiment, visitor=visitor, expose=expose
            )
    except headless.NotFound as error:
        raise ApiError(404, str(error)) from error
    page = None
    if result.page is not None:
        url, api_url = headless.page_urls(request, result, path)
        page = {"id": result.page.pk, "url": url, "api_url": api_url}
    return {
        "visitor_id": visitor.id if visitor else None,
        "experiment": result.experiment,
        "variant": result.variant,
        "payload": result.payload,
        "page": page,
    }


@api.get(
    "/experiments/{slug}/results",
    response={200: ResultsOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    auth=results_api_auth(),
    summary="An experiment's results",
    description=(
        "The admin results screen's data. Staff only, a user who may view experiments, "
        "authenticated by an admin session or a token: on Wagtail 8 a Wagtail API token "
        "(Authorization: Bearer wagtail_...), on Wagtail 7.4 a Django REST framework token "
        "(Authorization: Token ..., with rest_framework.authtoken installed). `goal` "
        "selects another goal than the primary one; `since` and `until` (dates) limit the "
        "period."
    ),
)
def get_experiment_results(
    request,
    slug: Slug,
    goal: GoalName | None = None,
    since: IsoDate | None = None,
    until: IsoDate | None = None,
):
    # The policy the admin's results screen checks too.
    policy = get_permission_policy(Experiment)
    if not policy.user_has_permission(request.user, "view"):
        raise ApiError(403, "You may not view experiments.")
    experiment = Experiment.objects.filter(slug=slug).first()
    if experiment is None:
        raise ApiError(404, f"No experiment {slug!r}.")
    if since and until and since > until:
        raise ApiError(400, "since must not come after until.")
    return experiment_results(experiment, goal=goal, since=since, until=until)
