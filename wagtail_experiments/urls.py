"""Include in the site's urls: ``path("_experiments/", include("wagtail_experiments.urls"))``."""

from django.urls import path

from .api import api

app_name = "wagtail_experiments"

urlpatterns = [
    path("api/", api.urls),
]
