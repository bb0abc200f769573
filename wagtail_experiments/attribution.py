"""Marketing attribution carried by the landing URL."""

import re
import unicodedata

from .conf import get_setting

UTM_PARAMETERS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


# UTM values are campaign names, not people: a value that looks like an e-mail address or
# a phone number is personal data that a careless link put there, and is dropped.
_EMAIL_LIKE = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]{7,}$")


def looks_personal(value):
    """Whether ``value`` looks like an e-mail address or a phone number."""
    digits = sum(char.isdigit() for char in value)
    return bool(_EMAIL_LIKE.search(value)) or (
        digits >= 7 and bool(_PHONE_LIKE.match(value.strip()))
    )


def clean_utm_value(value):
    """Printable text only, trimmed and bounded: it ends up in admin tables and exports.
    Empty for a value that looks like personal data (``looks_personal``)."""
    printable = "".join(
        char for char in str(value) if unicodedata.category(char)[0] not in ("C",)
    )
    cleaned = printable.strip()[: get_setting("UTM_MAX_LENGTH")]
    return "" if looks_personal(cleaned) else cleaned


def utm_from_query(query):
    """The ``utm_*`` values of a query mapping (e.g. ``request.GET``), cleaned; blanks dropped."""
    utm = {}
    for name in UTM_PARAMETERS:
        value = clean_utm_value(query.get(name, ""))
        if value:
            utm[name] = value
    return utm
