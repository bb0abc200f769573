"""The test project: the sandbox's apps and pages, with test-friendly infrastructure."""

import os
import tempfile

import dj_database_url

from sandbox_site.settings import *  # noqa: F403
from sandbox_site.settings import INSTALLED_APPS, MIDDLEWARE, TEMPLATES  # noqa: F401

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or "sqlite://:memory:", conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: the live server of the browser tests then gets its own
    # connection instead of sharing (and locking) the test thread's.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"wagtail_experiments_test_{os.getpid()}.db")
    }
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEBUG = False
ALLOWED_HOSTS = ["*"]
# The key with which tests act as a front-end server naming visitors (helpers.SERVER).
TEST_SERVER_KEY = "test-server-key"
WAGTAIL_EXPERIMENTS = {"SERVER_KEYS": [TEST_SERVER_KEY]}
LOGGING = {"version": 1, "disable_existing_loggers": False}
