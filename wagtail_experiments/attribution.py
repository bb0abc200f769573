"""Marketing attribution carried by the landing URL."""

import re
import unicodedata

from .conf import get_setting

UTM_PARAMETERS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


# UTM values are campaign names, not people: a value that looks like an e-mail address or
# a phone number is personal data that a careless link put there, and is dropped.
_EMAIL_LIKE = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
# A run of digits, spaces, dots, dashes and brackets, anywhere in the value...
_DIGIT_RUN = re.compile(r"\+?\(?\d[\d\s().\-]*\d")
# ...holding this many digits at least: phone numbers with their area code do; dates
# ("2026-11-29") and most campaign numbers do not.
_PHONE_DIGITS = 9


def looks_personal(value):
    """Whether ``value`` looks like it holds an e-mail address or a phone number."""
    if _EMAIL_LIKE.search(value):
        return True
    return any(
        sum(char.isdigit() for char in run) >= _PHONE_DIGITS
        for run in _DIGIT_RUN.findall(value)
    )


def clean_utm_value(value):
    """Printable text only, trimmed and bounded: it ends up in admin tables and exports.
    Empty for a value that looks like personal data (``looks_personal``)."""
    printable = "".join(
        char for char in str(value) if unicodedata.category(char)[0] not in ("C",)
    )
    # Checked before cutting: a cut address would no longer look like one.
    if looks_personal(printable):
        return ""
    return printable.strip()[: get_setting("UTM_MAX_LENGTH")]


def utm_from_query(query):
    """The ``utm_*`` values of a query mapping (e.g. ``request.GET``), cleaned; blanks dropped."""
    utm = {}
    for name in UTM_PARAMETERS:
        value = clean_utm_value(query.get(name, ""))
        if value:
            utm[name] = value
    return utm
