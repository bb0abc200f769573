"""Include in the site's urls: ``path("_experiments/", include("wagtail_experiments.urls"))``."""

import functools

from django.http import JsonResponse
from django.urls import path

from .api import api


def _json_method_not_allowed(view):
    """django-ninja answers a method a path does not take in plain text; every answer of
    this API is JSON, this one too (with the ``Allow`` header)."""

    @functools.wraps(view)
    def answer(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code != 405 or response.get("Content-Type", "").startswith(
            "application/json"
        ):
            return response
        allowed = response.get("Allow", "")
        refusal = JsonResponse(
            {"detail": f"Method {request.method} is not allowed here; use {allowed}.",
             "errors": []},
            status=405,
        )
        refusal["Allow"] = allowed
        return refusal

    return answer


def _api_urls():
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        pattern.callback = _json_method_not_allowed(pattern.callback)
    return patterns, app_name, namespace


# No app_name: django-ninja reverses its own namespace ("wagtail_experiments_api") for the
# OpenAPI schema and docs, which a wrapping namespace would break.
urlpatterns = [
    path("api/", _api_urls()),
]
