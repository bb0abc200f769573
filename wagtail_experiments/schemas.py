"""Shapes of what the JSON API accepts and returns. Strict: anything unexpected is a 400."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

MAX_EVENTS_PER_REQUEST = 100
MAX_METADATA_BYTES = 2048
MAX_METADATA_DEPTH = 5

Slug = Annotated[str, StringConstraints(pattern=r"^[-a-zA-Z0-9_]{1,64}$")]
Goal = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
BlockId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


def _has_control_characters(text):
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def _check_json_tree(value, depth=0):
    """No NUL bytes (PostgreSQL cannot store them) and bounded nesting, in keys and values."""
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata may nest at most {MAX_METADATA_DEPTH} levels deep")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("metadata must not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json_tree(key, depth)
            _check_json_tree(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json_tree(item, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("metadata numbers must be finite")


class EventIn(Schema):
    """One tracked event. The variant is never part of it: the server derives it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["impression", "click", "conversion", "custom"]
    experiment: Slug = Field(description="The experiment's slug.")
    id: ClientId = Field(description="Client-generated id; a replayed id is counted once.")
    goal: Goal | None = Field(None, description="Required for click, conversion and custom.")
    step: int | None = Field(None, ge=0, le=1_000_000, description="Funnel step.")
    value: float | None = Field(
        None, ge=-1e12, le=1e12, allow_inf_nan=False, description="E.g. revenue."
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
        return metadata

    @field_validator("url")
    @classmethod
    def printable_url(cls, url):
        if url is not None and _has_control_characters(url):
            raise ValueError("url must not contain control characters")
        return url


class EventBatchIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

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


class LeadIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    form: Slug = Field(description="The lead form's slug.")
    data: dict[str, str | int | float | bool | list[str] | None] = Field(
        description="Field values by field name, validated like the HTML form."
    )


class LeadCreated(Schema):
    id: int
