"""The app's settings: the site's ``WAGTAIL_EXPERIMENTS`` dict over these defaults."""

from django.conf import settings

DEFAULTS = {
    # Visitor id cookie (nanoid, 21 characters).
    "VISITOR_COOKIE": "wexp_vid",
    # Signed cookie remembering each served assignment: makes them sticky and lets a
    # returning visitor skip the exposure write entirely.
    "ASSIGNMENT_COOKIE": "wexp_asg",
    "COOKIE_MAX_AGE": 365 * 24 * 60 * 60,
    "COOKIE_DOMAIN": None,
    # Query parameter with which a logged-in editor forces a variant: ?wexp=<slug>:<key>.
    "FORCE_PARAMETER": "wexp",
    # Responses at an experiment URL depend on the visitor's bucket, so shared caches must
    # not store them. Set to False only when the CDN keys its cache on the assignment
    # (for example on the X-Experiment-Variant response header, or the cookies).
    "PRIVATE_CACHE_CONTROL": True,
    # Behind a shared cache (Varnish, a CDN worker; docs/behind-a-cache.md): experiment
    # responses are cacheable, one copy per variants key, when the cache keys them on the
    # CACHE_KEY_COOKIE it copies into the X-Experiments-Variants request header; pages
    # without an experiment get no per-visitor markup from the tracker tag.
    "SHARED_CACHE": False,
    "CACHE_KEY_COOKIE": "wexp_v",
    # Django cache alias holding the route-table version shared by all processes. It must
    # be a cache every process sees (Redis, Memcached, file-based) in multi-process
    # deployments; a per-process LocMemCache only invalidates within one process.
    "CACHE_ALIAS": "default",
    # How often, at most, a process asks the shared cache whether the route table changed.
    "ROUTE_TABLE_RECHECK_SECONDS": 1.0,
    # Requests per client address ("count/s|m|h|d") to each kind of API endpoint: config,
    # assignment, events and leads have a budget each. None switches the API limits off.
    # Multi-process deployments need a shared cache (or a non-memory one: then the database
    # counts) for the limits to hold across processes.
    "API_RATE_LIMIT": "600/m",
    # Budgets of particular kinds, instead of API_RATE_LIMIT. "leads" covers JSON and HTML
    # lead submissions together.
    "RATE_LIMITS": {"leads": "20/m"},
    # Notification e-mails per lead form; beyond it leads are stored but not e-mailed.
    "LEAD_NOTIFICATION_LIMIT": "60/h",
    # "server": an exposure is recorded when the page is served. "client": only when the
    # tracker confirms the page rendered in a browser (fewer non-JS bots counted).
    "EXPOSURE_MODE": "server",
    # "immediate": a new visitor's first exposure is stored before the page is sent.
    # "buffered": it is stored by a background thread of the process within
    # EXPOSURE_FLUSH_SECONDS, in batches (the README's Tracking section says what is
    # guaranteed; ``exposure_buffer`` how).
    "EXPOSURE_WRITES": "immediate",
    "EXPOSURE_FLUSH_SECONDS": 0.5,
    # Buffered exposures a process keeps while the database refuses them; then the oldest
    # are dropped (and logged).
    "EXPOSURE_BUFFER_LIMIT": 10_000,
    # Consent mode: until the visitor consents, no cookie, the control, nothing counted.
    "REQUIRE_CONSENT": False,
    # Consent is the cookie CONSENT_COOKIE holding CONSENT_COOKIE_VALUE (any value if None)...
    "CONSENT_COOKIE": "wexp_consent",
    "CONSENT_COOKIE_VALUE": "yes",
    # ...or, when set, what this callable (a dotted path) says: check(request) -> bool.
    "CONSENT_CHECK": None,
    # Treat "DNT: 1" and "Sec-GPC: 1" as a refusal (with or without consent mode).
    "HONOUR_DO_NOT_TRACK": False,
    # Secrets of the servers (front-end servers, edge workers) allowed to name the visitor
    # they act for with ``visitor_id``, sent in the X-Experiments-Key header. Empty: nobody
    # may; browsers never can (a chosen id would choose the variant).
    "SERVER_KEYS": [],
    # URL namespace of the site's Wagtail API v2 router (WagtailAPIRouter("wagtailapi")),
    # for the ``api_url`` of pages in assignment responses.
    "PAGES_API_NAMESPACE": "wagtailapi",
    # PostgreSQL: the longest a tracking write (exposure, event, lead) may wait for a lock
    # or run, in milliseconds, before it gives up: a page is then served uncounted, and the
    # API answers 503. None: no bound.
    "TRACKING_DB_TIMEOUT_MS": 500,
    # PostgreSQL: whether a tracking write (exposure, event, rollup, rate count) waits for
    # its commit to reach the disk. False: it does not (synchronous_commit = off for its
    # transaction alone): a crash of the database server itself loses the tracking writes
    # of its last moments (at most three times wal_writer_delay, 0.6 s by default), never
    # part of one, and never a lead, whose writes always wait (nor the standby's copy,
    # under synchronous replication: a failover loses what it had not received). True:
    # every write waits.
    "TRACKING_SYNCHRONOUS_COMMIT": False,
    # The results show this many UTM sources (those with the most visitors) one by one,
    # and the rest together as "(other)".
    "RESULTS_MAX_UTM_SOURCES": 20,
    # Where notifications are posted, per site hostname ("*" for every other site), e.g.
    # {"www.example.com": "https://hooks.slack.com/services/…"}.
    "NOTIFICATION_WEBHOOKS": {},
    # Each experiment's rollups count this many UTM sources (the first seen) one by one,
    # and later new ones together as "(other)": landing URLs are written by anybody.
    "ROLLUP_MAX_UTM_SOURCES": 100,
    # Maximum stored length of each utm_* value of the landing URL.
    "UTM_MAX_LENGTH": 100,
}


def get_setting(name):
    """One setting, read on each call so ``override_settings`` works in tests."""
    overrides = getattr(settings, "WAGTAIL_EXPERIMENTS", {})
    if name in overrides:
        return overrides[name]
    return DEFAULTS[name]
