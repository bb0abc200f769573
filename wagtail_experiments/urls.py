"""Include in the site's urls: ``path("_experiments/", include("wagtail_experiments.urls"))``."""

from django.urls import path

from .api import api

# No app_name: django-ninja reverses its own namespace ("wagtail_experiments_api") for the
# OpenAPI schema and docs, which a wrapping namespace would break.
urlpatterns = [
    path("api/", api.urls),
]
