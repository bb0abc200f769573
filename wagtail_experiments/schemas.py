"""Shapes of what the JSON API accepts and returns. Strict: anything unexpected is a 400.

What it accepts (``EventIn``, ``EventBatchIn``, ``LeadIn``) are plain pydantic models, which
``api.validated`` checks: django-ninja's ``Schema`` wraps every validation in a validator
that reads Django objects, which only outputs need, and which made an event's validation
several times slower (15 µs instead of 2 for a minimal event; a batch pays it for
every event)."""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from ninja import Schema
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from .text import is_storable

MAX_EVENTS_PER_REQUEST = 100
MAX_METADATA_BYTES = 2048
MAX_METADATA_DEPTH = 5
# ``metadata.time_spent_ms`` feeds the funnel's mean time: a number of milliseconds, up to
# 30 days.
MAX_TIME_SPENT_MS = 30 * 24 * 3600 * 1000

Slug = Annotated[str, StringConstraints(pattern=r"^[-a-zA-Z0-9_]{1,64}$")]
Goal = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
# Any goal results can be asked for: an event's (Goal), a lead form's or an experiment's
# primary goal (slugs); empty for the primary goal.
GoalName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{0,64}$")]
ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
BlockId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


def _iso_date_only(value):
    """Pydantic's lax date parsing would also take numbers (as Unix timestamps) and
    datetimes; the API documents dates (``format: date``), YYYY-MM-DD."""
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("Input should be a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[datetime.date, BeforeValidator(_iso_date_only)]


def is_parsable_url(text):
    """Whether ``urlsplit`` accepts ``text`` (it refuses e.g. "http://[x/")."""
    try:
        urlsplit(text)
    except ValueError:
        return False
    return True


def has_control_characters(text):
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def _check_json_tree(value, depth=0):
    """No NUL bytes (PostgreSQL cannot store them) and bounded nesting, in keys and values."""
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata may nest at most {MAX_METADATA_DEPTH} levels deep")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("metadata must not contain NUL characters")
    if isinstance(value, str) and not is_storable(value):
        raise ValueError("metadata must not contain control characters or unpaired surrogates")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json_tree(key, depth)
            _check_json_tree(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json_tree(item, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("metadata numbers must be finite")


class InputModel(BaseModel):
    """What a client sends: strict, nothing unexpected, and a JSON object (pydantic's own
    message for anything else would name the Python class)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def require_object(cls, data):
        if not isinstance(data, dict):
            raise ValueError("must be a JSON object")
        return data


class EventIn(InputModel):
    """One tracked event. The variant is never part of it: the server derives it."""

    type: Literal["impression", "click", "conversion", "custom"]
    experiment: Slug = Field(description="The experiment's slug.")
    id: ClientId = Field(description="Client-generated id; a replayed id is counted once.")
    goal: Goal | None = Field(None, description="Required for click, conversion and custom.")
    step: int | None = Field(None, ge=0, le=1_000_000, description="Funnel step.")
    value: float | None = Field(
        None, ge=-1e12, le=1e12, allow_inf_nan=False,
        description="E.g. an order amount: only for goals that take a value (revenue goals, "
        "or goals given a maximum value), from 0 to that maximum.",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description=f"JSON object, at most {MAX_METADATA_BYTES} bytes."
    )
    url: str | None = Field(None, max_length=2000)
    block: BlockId | None = Field(None, description="Id of the StreamField block clicked.")

    @model_validator(mode="before")
    @classmethod
    def refuse_client_variant(cls, data):
        if isinstance(data, dict) and "variant" in data:
            raise ValueError(
                "'variant' cannot be sent: the server derives it from the visitor's exposure"
            )
        return data

    @model_validator(mode="after")
    def require_goal(self):
        if self.type != "impression" and not self.goal:
            raise ValueError(f"'goal' is required for {self.type} events")
        return self

    @field_validator("metadata")
    @classmethod
    def bounded_metadata(cls, metadata):
        _check_json_tree(metadata)
        if len(json.dumps(metadata).encode()) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
        if "time_spent_ms" in metadata:
            # Read by the results' funnel: it must be what the statistics expect.
            time_spent = metadata["time_spent_ms"]
            if (
                isinstance(time_spent, bool)
                or not isinstance(time_spent, int | float)
                or not 0 <= time_spent <= MAX_TIME_SPENT_MS
            ):
                raise ValueError(
                    f"metadata.time_spent_ms must be a number of milliseconds from 0 to "
                    f"{MAX_TIME_SPENT_MS}"
                )
        return metadata

    @field_validator("url")
    @classmethod
    def printable_url(cls, url):
        if url is not None and (
            has_control_characters(url) or not is_storable(url) or not is_parsable_url(url)
        ):
            raise ValueError("url must not contain control characters")
        return url


class EventBatchIn(InputModel):
    events: list[EventIn] = Field(max_length=MAX_EVENTS_PER_REQUEST)


class RejectedEvent(Schema):
    index: int
    error: str


class EventsAccepted(Schema):
    accepted: int
    duplicates: int
    rejected: list[RejectedEvent]


class FieldError(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    detail: str
    errors: list[FieldError] = []


class LeadIn(InputModel):
    form: Slug = Field(description="The lead form's slug.")
    data: dict[str, str | int | float | bool | list[str] | None] = Field(
        description="Field values by field name, validated like the HTML form."
    )


class LeadCreated(Schema):
    id: int


class SiteOut(Schema):
    id: int
    root_url: str | None = Field(description="Scheme, host and port of the site.")


class VariantConfigOut(Schema):
    key: str
    weight: float = Field(description="Share of covered visitors, 0 to 1; the weights sum to 1.")
    page_id: int | None = Field(description="None for code-level experiments.")
    url: str | None = Field(description=(
        "The variant page's own URL: None for code-level experiments and for a variant page "
        "that is a draft (served only at the control URL, from its pinned revision)."))
    payload: dict[str, Any] = Field(description="JSON object handed to code (feature flags).")


class TargetingOut(Schema):
    """Each non-empty list restricts (values lower case); an empty list admits everybody."""

    utm_source: list[str]
    utm_medium: list[str]
    utm_campaign: list[str]
    device: list[Literal["desktop", "mobile", "tablet"]]
    locale: list[str] = Field(description="Language codes; 'en' also admits 'en-gb'.")


class GoalConfigOut(Schema):
    name: str
    kind: Literal["event", "revenue", "server"] = Field(description=(
        "Who records it: 'event' and 'revenue' goals are sent as events (revenue ones with "
        "a value); 'server' goals are recorded by the server only (lead forms, goal page) "
        "and refused from clients."))
    max_value: float | None = Field(description=(
        "The largest value one event may carry; None: events carry no value."))


class ExperimentConfigOut(Schema):
    slug: str
    hash_seed: str
    hash_version: Literal[1, 2]
    coverage: float = Field(description="Share of visitors in the experiment, 0 to 1.")
    winner: str | None = Field(
        description="Set once the experiment is over and its winner promoted: every visitor "
        "gets this variant, nobody is counted. `variants` then holds the winner only."
    )
    site: SiteOut | None = Field(description="None: a code-level experiment on every site.")
    path: str | None = Field(description="The control URL's path (None for code-level).")
    url: str | None = Field(description="The control URL (None for code-level).")
    variants: list[VariantConfigOut] = Field(description="In GrowthBook variation order.")
    targeting: TargetingOut
    goals: list[GoalConfigOut] = Field(description=(
        "The goals the experiment records; events of any other goal are rejected."))


class ExperimentsConfigOut(Schema):
    experiments: list[ExperimentConfigOut]


class CsrfTokenOut(Schema):
    token: str = Field(description="The value of the form's csrfmiddlewaretoken field.")


class VisitorExperimentsOut(Schema):
    experiments: list[str] = Field(description="Slugs of the visitor's running experiments.")


class AssignedPageOut(Schema):
    id: int
    url: str | None = Field(description=(
        "The page's own URL, or the control URL for a variant whose page is a draft; "
        "visitors stay on `path` either way."))
    api_url: str | None = Field(description=(
        "Its content in Wagtail's API v2, when that is mounted: the page's detail URL, or "
        "for a variant the variant-aware `find` of `path`, which answers with the variant's "
        "pinned content."))


class AssignmentOut(Schema):
    visitor_id: str | None = Field(description="None when the visitor may not be tracked.")
    experiment: str | None
    variant: str | None
    payload: dict[str, Any]
    page: AssignedPageOut | None = Field(description="None for code-level experiments.")


class ResultsOut(Schema):
    """The admin results screen's data; see the analysts' guide for every field."""

    model_config = ConfigDict(extra="allow")

    experiment: str
    name: str
    status: str
    pause_reason: str | None = None
    outcome: dict[str, Any] | None = None
    goal: str
    primary_goal: str
    method: str
    decision_rule: str
    alpha: float
    since: str | None = None
    until: str | None = None
    visitors: int
    conversions: int
    variants: list[dict[str, Any]]
    srm_p_value: float
    srm_detected: bool
    goals: list[dict[str, Any]] = Field(
        description="Every declared goal's statistics, the primary goal first, with its "
        "role (primary, secondary, guardrail) and direction."
    )
    verdict: dict[str, Any] = Field(
        description="The decision on the primary goal: reason (collecting_data, srm, "
        "guardrail_harmed, not_significant, winner, loser), winner, leader, losers, "
        "waiting_for, harmed_guardrails, frozen_on (fixed horizon), rule."
    )
    planning: dict[str, Any]
    daily: list[dict[str, Any]]
    utm_sources: list[dict[str, Any]]
    funnel: dict[str, Any]
