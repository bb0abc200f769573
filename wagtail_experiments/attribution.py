"""Marketing attribution carried by the landing URL."""

import unicodedata

from .conf import get_setting

UTM_PARAMETERS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def clean_utm_value(value):
    """Printable text only, trimmed and bounded: it ends up in admin tables and exports."""
    printable = "".join(
        char for char in str(value) if unicodedata.category(char)[0] not in ("C",)
    )
    return printable.strip()[: get_setting("UTM_MAX_LENGTH")]


def utm_from_query(query):
    """The ``utm_*`` values of a query mapping (e.g. ``request.GET``), cleaned; blanks dropped."""
    utm = {}
    for name in UTM_PARAMETERS:
        value = clean_utm_value(query.get(name, ""))
        if value:
            utm[name] = value
    return utm
