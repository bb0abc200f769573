"""The test project: the sandbox's apps and pages, with test-friendly infrastructure."""

import os

import dj_database_url

from sandbox_site.settings import *  # noqa: F403
from sandbox_site.settings import INSTALLED_APPS, MIDDLEWARE, TEMPLATES  # noqa: F401

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or "sqlite://:memory:", conn_max_age=0
    )
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEBUG = False
ALLOWED_HOSTS = ["*"]
WAGTAIL_EXPERIMENTS = {}
LOGGING = {"version": 1, "disable_existing_loggers": False}
