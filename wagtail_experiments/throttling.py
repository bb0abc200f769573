"""Rate limits: a budget per client address for each kind of endpoint, and one per lead
form for notification e-mails, counted in fixed windows.

Counts are atomic on every cache: Redis, Memcached and the local-memory cache increment
atomically; for the others (file-based, database), whose ``incr`` reads and writes back,
an upsert on a database row (``RateCounter``) counts instead, so concurrent requests are
never lost: a counter row is locked only while PostgreSQL runs the upsert, and a race for
it is retried; a locked table or an outage lets requests through. Each kind has its
own budget: one client's config polling cannot use up the events or leads of everyone
behind the same proxy.
"""

from __future__ import annotations

import hashlib
import random
import time

from django.conf import settings
from django.core.cache import caches
from ninja.throttling import BaseThrottle

from .conf import DEFAULTS, get_setting
from .sql import retrying

# Endpoint kinds; each has its own budget per client address.
CONFIG, ASSIGNMENT, EVENTS, LEADS = "config", "assignment", "events", "leads"
# The budget of notification e-mails, per lead form.
LEAD_NOTIFICATIONS = "lead_notifications"

# Cache backends whose ``incr`` is atomic (the local-memory one within its process).
_ATOMIC_INCR_BACKENDS = (
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.memcached.PyLibMCCache",
    "django.core.cache.backends.locmem.LocMemCache",
    "django_redis.cache.RedisCache",
)
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Share of database counts that also delete the counters of past windows.
_CLEANUP_SHARE = 0.01


def rate_for(kind):
    """(count, seconds) of ``kind``'s budget, or None when it is not limited. Each API kind
    gets ``API_RATE_LIMIT`` unless ``RATE_LIMITS`` names its own; ``API_RATE_LIMIT = None``
    switches the API's limits off."""
    if kind == LEAD_NOTIFICATIONS:
        rate = get_setting("LEAD_NOTIFICATION_LIMIT")
    elif not get_setting("API_RATE_LIMIT"):
        return None
    else:
        budgets = {**DEFAULTS["RATE_LIMITS"], **(get_setting("RATE_LIMITS") or {})}
        rate = budgets.get(kind, get_setting("API_RATE_LIMIT"))
    if not rate:
        return None
    count, _, period = str(rate).partition("/")
    return int(count), _PERIODS[(period or "m")[:1]]


def hit(kind, ident):
    """Count one request of ``kind`` by ``ident`` (an address, a form); whether it is within
    the budget. Never raises: a cache or database that cannot count lets it through."""
    rate = rate_for(kind)
    if rate is None:
        return True
    limit, seconds = rate
    window = int(time.time() // seconds)
    # Hashed: identities have no fixed length, cache keys do (Memcached: 250 bytes).
    digest = hashlib.sha256(f"{kind}:{ident}".encode()).hexdigest()[:40]
    try:
        return _count(f"wexp:{digest}", window, seconds) <= limit
    except Exception:
        return True  # rate limiting protects the site; it must never take it down


def retry_after(kind):
    rate = rate_for(kind)
    return None if rate is None else rate[1] - time.time() % rate[1]


def counts_atomically(alias=None):
    """Whether the cache ``alias`` increments atomically (else the database counts)."""
    alias = alias or get_setting("CACHE_ALIAS")
    return settings.CACHES[alias]["BACKEND"] in _ATOMIC_INCR_BACKENDS


def _count(key, window, seconds):
    if counts_atomically():
        cache = caches[get_setting("CACHE_ALIAS")]
        cache_key = f"wagtail_experiments:throttle:{key}:{window}"
        cache.add(cache_key, 0, seconds)
        try:
            return cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, 1, seconds)
            return 1
    return _count_in_database(key, window, seconds)


def _count_in_database(key, window, seconds):
    from .models import RateCounter
    from .sql import increment_counter, tracking_transaction

    now = int(time.time())

    if random.random() < _CLEANUP_SHARE:
        with tracking_transaction(RateCounter):
            RateCounter.objects.filter(expires_at__lt=now).delete()
    # Bounded like tracking writes (a savepoint inside a request's own transaction): a busy
    # counter never holds a request up for long; a race for its row is retried.
    return retrying(increment_counter, RateCounter, key, window, now + seconds)


def client_address(request):
    """The client address. X-Forwarded-For is trusted only when ``NINJA_NUM_PROXIES`` says
    how many proxies add to it (as django-ninja reads it); otherwise any client could claim
    any address."""
    proxies = getattr(settings, "NINJA_NUM_PROXIES", None)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies and forwarded:
        addresses = forwarded.split(",")
        return addresses[-min(proxies, len(addresses))].strip()
    return request.META.get("REMOTE_ADDR", "")


class EndpointThrottle(BaseThrottle):
    """django-ninja throttle: ``kind``'s budget per client address."""

    def __init__(self, kind):
        self.kind = kind

    def allow_request(self, request):
        return hit(self.kind, client_address(request))

    def wait(self):
        return retry_after(self.kind)
