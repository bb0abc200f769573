"""Experiment pages behind a shared cache (Varnish, a CDN worker): one cached copy per
combination of variants, never one per visitor, never one for all. On with the
``SHARED_CACHE`` setting; off, every response that depends on the visitor is private.

The origin mirrors a visitor's variants into a cookie (``CACHE_KEY_COOKIE``), e.g.
``home-banner:~|landing-hero:b`` ("~": checked, not in the experiment). The cache copies it
into the ``X-Experiments-Variants`` request header and keys on it, and the origin answers
``Vary: X-Experiments-Variants``. The signed assignment cookie stays the authority for
attribution: the key only chooses which cached copy a visitor is shown.

The origin lets a cache keep an experiment response only when the request proves that the
cache keyed it (the header equals the cookie), the key is the one the visitor's signed
assignments give, the response is what that key says (every experiment it depends on has
the variant named) and it sets no cookie. Anything else is private: a new visitor's first
response (which sets cookies), an editor's, a bot's, a tampered key.
"""

from __future__ import annotations

from django.utils.cache import patch_vary_headers

from .conf import get_setting

CACHE_KEY_HEADER = "X-Experiments-Variants"
NOT_IN = "~"
# On the request: {experiment slug: the variant key (or NOT_IN) this response shows, or
# None when it cannot be keyed (an editor's forced variant, an excluded request)}.
_DEPENDS = "_wagtail_experiments_depends_on"


def is_enabled():
    return bool(get_setting("SHARED_CACHE"))


def cache_key(visitor, table):
    """The variants key of ``visitor``: each experiment still counting visitors that the
    visitor was checked for, with their variant, in slug order."""
    entries = {}
    for experiment_id in visitor.unexposed:
        route = table.by_experiment_id.get(experiment_id)
        if route is not None and route.winner_key is None:
            entries[route.slug] = NOT_IN
    for experiment_id, key in visitor.assignments.items():
        route = table.by_experiment_id.get(experiment_id)
        if route is not None and route.winner_key is None:
            entries[route.slug] = key
    return "|".join(f"{slug}:{key}" for slug, key in sorted(entries.items()))


def parse_key(value):
    entries = {}
    for entry in (value or "").split("|"):
        slug, _, key = entry.partition(":")
        if slug and key:
            entries[slug] = key
    return entries


def depends_on(request, route, assignment):
    """Note that this response shows ``route``'s experiment as ``assignment`` decides."""
    counted = assignment is not None and assignment.counts
    shown = (assignment.key or NOT_IN) if counted else None
    request.__dict__.setdefault(_DEPENDS, {})[route.slug] = shown


def dependencies(request):
    return getattr(request, _DEPENDS, None) or {}


def request_key(request):
    return request.COOKIES.get(get_setting("CACHE_KEY_COOKIE"))


def write_key_cookie(response, request, value):
    response.set_cookie(
        get_setting("CACHE_KEY_COOKIE"),
        value,
        max_age=get_setting("COOKIE_MAX_AGE"),
        domain=get_setting("COOKIE_DOMAIN"),
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


def share_per_variant(request, response, canonical_key):
    """Mark ``response`` as one cached copy per variants key and return True when it may
    be (see the module's docstring); else leave it alone and return False."""
    depends = dependencies(request)
    if not depends or response.cookies or canonical_key is None:
        return False
    header = request.headers.get(CACHE_KEY_HEADER)
    if header is None or header != request_key(request) or header != canonical_key:
        return False
    keyed = parse_key(header)
    if any(shown is None or keyed.get(slug) != shown for slug, shown in depends.items()):
        return False
    patch_vary_headers(response, [CACHE_KEY_HEADER])
    return True
