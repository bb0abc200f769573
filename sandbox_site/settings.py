"""Settings of the demo site. ``DATABASE_URL`` switches from SQLite to PostgreSQL."""

import os
from pathlib import Path

import dj_database_url

SANDBOX_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("SANDBOX_VAR_DIR", SANDBOX_DIR / "var"))
# The SQLite file, the file cache and media live here; a fresh clone has no such folder yet.
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "sandbox-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "sandbox_site.home",
    "wagtail_experiments",
    # django-ninja's own copy of Swagger UI: the API docs page works offline.
    "ninja",
    "wagtail.contrib.forms",
    "wagtail.api.v2",
    "wagtail.contrib.redirects",
    "wagtail.contrib.sitemaps",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "rest_framework",
    # Tokens for the staff results API on Wagtail 7.4 (Wagtail 8 has its own API tokens).
    "rest_framework.authtoken",
    "corsheaders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
    "wagtail_experiments.middleware.ExperimentMiddleware",
]

ROOT_URLCONF = "sandbox_site.urls"
WSGI_APPLICATION = "sandbox_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [SANDBOX_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=60
    )
}

# The experiments' route-table version must be visible to every process (runserver,
# gunicorn workers, management commands), so the sandbox uses a file-based cache.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache"),
    }
}

AUTH_PASSWORD_VALIDATORS = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

WAGTAIL_SITE_NAME = "Experiments sandbox"
# The demo runs offline too: no upgrade check, no Gravatar images (each a console error
# without a network).
WAGTAIL_ENABLE_UPDATE_CHECK = False
WAGTAIL_GRAVATAR_PROVIDER_URL = None
WAGTAILADMIN_BASE_URL = os.environ.get("WAGTAILADMIN_BASE_URL", "http://127.0.0.1:8000")
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}

WAGTAIL_EXPERIMENTS = {
    # Servers that may name visitors (visitor_id, with the X-Experiments-Key header): none,
    # unless EXPERIMENTS_SERVER_KEYS (comma-separated secrets) says otherwise.
    "SERVER_KEYS": [key for key in os.environ.get("EXPERIMENTS_SERVER_KEYS", "").split(",") if key],
}

# Headless front ends on other origins (django-cors-headers): only these origins may call
# the experiments API and Wagtail's API v2 from a browser, with the visitor's cookies.
CORS_ALLOWED_ORIGINS = [
    origin
    for origin in os.environ.get("CORS_ALLOWED_ORIGINS", "http://localhost:3000").split(",")
    if origin
]
CORS_URLS_REGEX = r"^/(_experiments/api|api/v2)/.*$"
CORS_ALLOW_CREDENTIALS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"wagtail_experiments": {"handlers": ["console"], "level": "INFO"}},
}
