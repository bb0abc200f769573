"""The visitor's cookies: a random id, and the signed record of assignments served to it."""

from __future__ import annotations

from django.conf import settings
from django.utils.crypto import constant_time_compare

from . import exposure_buffer
from .assignment import is_valid_visitor_id, new_visitor_id
from .conf import get_setting

ASSIGNMENT_SALT = "wagtail_experiments.assignments"
# In the assignment cookie, in place of a variant key (keys are slugs, so it cannot clash):
# "this visitor has no stored exposure to the experiment", which spares a returning visitor
# outside its coverage or targeting the database lookup on every view.
UNEXPOSED = "~"


def cookie_visitor_id(request):
    """The visitor id of the request's cookie if it is one we could have issued, else ""."""
    visitor_id = request.COOKIES.get(get_setting("VISITOR_COOKIE"), "")
    return visitor_id if is_valid_visitor_id(visitor_id) else ""


def counted_variants(request, visitor_id):
    """{experiment id: variant key} of the counted exposures the request's signed
    assignment cookie vouches for, when exposures are buffered (``exposure_buffer``), the
    cookie is ``visitor_id``'s and was signed within ``RESTORE_SECONDS``: tracking then
    stores an exposure still buffered, or lost from the buffer, before the visitor's event
    or lead. (With immediate writes, or an older cookie, an exposure the database lacks
    was erased, and stays so.)"""
    if not visitor_id or not exposure_buffer.is_enabled():
        return {}
    if visitor_id != cookie_visitor_id(request):
        return {}
    window = exposure_buffer.RESTORE_SECONDS
    return Visitor._read_assignments(request, visitor_id, max_age=window)[0]


# The header with which a server naming a visitor (``visitor_id``) authenticates.
SERVER_KEY_HEADER = "X-Experiments-Key"
# Why ``visitor_id`` is refused without one, on every endpoint that takes it.
SERVER_KEY_REQUIRED = (
    f"visitor_id is for servers acting for a visitor: send the {SERVER_KEY_HEADER} header "
    "with one of the site's SERVER_KEYS. Browsers are identified by their cookie."
)


def is_trusted_server(request):
    """Whether the request carries one of the ``SERVER_KEYS``: only such a caller (a
    front-end server, an edge worker) may name the visitor it acts for. A browser that
    could name any visitor id could choose its variant, since the hash seed is public."""
    presented = request.headers.get(SERVER_KEY_HEADER, "")
    return bool(presented) and any(
        constant_time_compare(presented, key) for key in get_setting("SERVER_KEYS") or ()
    )


def logged_in_user(request):
    """The authenticated user, or None. Without a session cookie nobody can be logged in,
    so anonymous visitors cost no session or user query."""
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return None
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


class Visitor:
    """Identity and sticky assignments read from the request's cookies.

    The assignment cookie is signed and names the visitor id it belongs to, so a client can
    neither write its own variant nor graft someone else's assignments onto its id. Either
    way a tampered cookie is ignored: the visitor is simply bucketed again by hash.
    """

    def __init__(self, visitor_id, assignments, *, is_new, id_cookie_stale=None, unexposed=()):
        self.id = visitor_id
        self.assignments = assignments  # {experiment id: variant key}
        # Experiments the visitor was checked for and is not exposed to (yet).
        self.unexposed = set(unexposed)
        self.is_new = is_new
        self._id_cookie_stale = is_new if id_cookie_stale is None else id_cookie_stale
        self._assignments_changed = False
        self._kept = False
        self.sets_cookies = True

    @classmethod
    def from_request(cls, request):
        """The request's visitor, parsed (and its cookie signature checked) once per request
        and shared by the middleware, the tracker tag and the API."""
        visitor = getattr(request, "_wagtail_experiments_visitor", None)
        if visitor is None:
            visitor = cls._parse(request)
            request._wagtail_experiments_visitor = visitor
        return visitor

    @classmethod
    def named(cls, request, visitor_id):
        """The visitor an API caller names (a front-end server calling on a visitor's
        behalf), made the request's visitor. Their sticky assignments come from the
        request's cookie only if it belongs to the same id; otherwise from the database."""
        cookie_id = request.COOKIES.get(get_setting("VISITOR_COOKIE"))
        own_cookie = cookie_id == visitor_id
        assignments, unexposed = (
            cls._read_assignments(request, visitor_id) if own_cookie else ({}, set())
        )
        visitor = cls(
            visitor_id,
            assignments,
            is_new=False,
            id_cookie_stale=False,
            unexposed=unexposed,
        )
        # The caller is a server, not the visitor's browser: its response sets no cookie.
        visitor.sets_cookies = False
        request._wagtail_experiments_visitor = visitor
        return visitor

    @classmethod
    def _parse(cls, request):
        raw_id = request.COOKIES.get(get_setting("VISITOR_COOKIE"))
        if not is_valid_visitor_id(raw_id):
            return cls(new_visitor_id(), {}, is_new=True)
        assignments, unexposed = cls._read_assignments(request, raw_id)
        return cls(raw_id, assignments, is_new=False, unexposed=unexposed)

    @staticmethod
    def _read_assignments(request, visitor_id, max_age=None):
        signed = request.get_signed_cookie(
            get_setting("ASSIGNMENT_COOKIE"), default=None, salt=ASSIGNMENT_SALT,
            max_age=max_age,
        )
        assignments, unexposed = {}, set()
        if not signed:
            return assignments, unexposed
        owner, _, entries = signed.partition("|")
        if owner != visitor_id:
            return assignments, unexposed
        for entry in entries.split(","):
            experiment_id, _, key = entry.partition(":")
            if not experiment_id.isdigit() or not key:
                continue
            if key == UNEXPOSED:
                unexposed.add(int(experiment_id))
            else:
                assignments[int(experiment_id)] = key
        return assignments, unexposed

    def remember(self, experiment_id, variant_key):
        """Make an assignment sticky from the next request on."""
        if self.assignments.get(experiment_id) != variant_key:
            self.assignments[experiment_id] = variant_key
            self.unexposed.discard(experiment_id)
            self._assignments_changed = True

    def remember_unexposed(self, experiment_id):
        """Note that the visitor has no stored exposure to the experiment: later views
        bucket them by hash again (coverage and targeting may let them in) without asking
        the database first."""
        if experiment_id not in self.unexposed and experiment_id not in self.assignments:
            self.unexposed.add(experiment_id)
            self._assignments_changed = True

    def keep(self):
        """Have the response set this visitor's cookies even if no assignment changed."""
        self._kept = True

    @property
    def has_cookie_changes(self):
        return self.sets_cookies and (
            self._assignments_changed or (self._kept and self._id_cookie_stale)
        )

    def write_cookies(self, response, request, *, known_experiment_ids):
        """Set whichever cookie changed; a returning visitor's response sets none."""
        secure = request.is_secure()
        common = {
            "max_age": get_setting("COOKIE_MAX_AGE"),
            "domain": get_setting("COOKIE_DOMAIN"),
            "secure": secure,
            "httponly": True,
            "samesite": "Lax",
        }
        if self._id_cookie_stale:
            response.set_cookie(get_setting("VISITOR_COOKIE"), self.id, **common)
        if self._assignments_changed:
            # Forget experiments that no longer run, so the cookie cannot grow without bound.
            remembered = {**dict.fromkeys(self.unexposed, UNEXPOSED), **self.assignments}
            entries = ",".join(
                f"{experiment_id}:{key}"
                for experiment_id, key in sorted(remembered.items())
                if experiment_id in known_experiment_ids
            )
            response.set_signed_cookie(
                get_setting("ASSIGNMENT_COOKIE"),
                f"{self.id}|{entries}",
                salt=ASSIGNMENT_SALT,
                **common,
            )
