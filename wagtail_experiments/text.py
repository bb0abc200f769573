"""Text that visitors send: what can be stored, and how it is written into spreadsheets.

The same rules on SQLite and PostgreSQL: PostgreSQL refuses NUL and unpaired surrogates
outright, SQLite stores them and breaks exports later, and spreadsheet files (XLSX is XML)
cannot hold most control characters at all.
"""

from __future__ import annotations

import re

# C0 controls but tab, line feed and carriage return; unpaired UTF-16 surrogates, which no
# UTF-8 database or file can hold; and U+FFFE/U+FFFF, which XML (so XLSX) cannot.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Spreadsheet programs run a cell starting with these as a formula, also after leading
# blanks, and also in their full-width forms.
_FORMULA_START = re.compile("^[\\s\u3000]*[=+\\-@\uff1d\uff0b\uff0d\uff20]|^[\t\r]")


def is_storable(text):
    """Whether ``text`` holds no character a database, a CSV or an XLSX file refuses."""
    return not _UNSTORABLE.search(text)


def without_unstorable(text):
    """``text`` without the characters ``is_storable`` refuses (for incidental text such as
    a Referer header, where refusing the whole request would be out of proportion)."""
    return _UNSTORABLE.sub("", text)


def first_unstorable_field(values):
    """The name of the first value of ``values`` (name → str, list or other) holding text
    ``is_storable`` refuses, else None."""
    for name, value in values.items():
        items = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(item, str) and not is_storable(item) for item in items):
            return name
    return None


def for_spreadsheet(value, *, csv=False):
    """A cell's text made safe: characters the file cannot hold become U+FFFD (for rows
    stored before these checks), and, in CSV (XLSX cells are typed as text instead), a
    formula is defused with a leading apostrophe."""
    if not isinstance(value, str):
        return value
    value = _UNSTORABLE.sub("\ufffd", value)
    if csv and _FORMULA_START.search(value):
        value = "'" + value
    return value


def email_list(value):
    """``"ada@example.com, bob@example.com,"`` → ``["ada@example.com", "bob@example.com"]``:
    how editors type notification addresses."""
    return list(dict.fromkeys(part.strip() for part in (value or "").split(",") if part.strip()))
