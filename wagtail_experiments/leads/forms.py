"""Django forms for lead forms: Wagtail's form builder, plus a honeypot against bots."""

import datetime
from decimal import Decimal

from django import forms
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

from ..text import first_unstorable_field

# Posted with every HTML lead form, naming which form (a page may hold several).
FORM_MARKER = "wexp_lead_form"
# A field people never see (hidden by CSS, skipped by assistive technology) but form-filling
# bots do fill in; a submission that fills it is dropped as if it succeeded.
HONEYPOT = "wexp_website"
# The longest e-mail address a lead stores (Lead.email).
EMAIL_MAX_LENGTH = 254


class StorableTextMixin:
    """Refuses text no database or export can hold (control characters, unpaired
    surrogates) with a message on the field, identically on SQLite and PostgreSQL."""

    def clean(self):
        cleaned_data = super().clean()
        field = first_unstorable_field(cleaned_data)
        while field is not None:
            self.add_error(field, _("Remove the control characters or invalid symbols from "
                                    "this field."))  # add_error drops it from cleaned_data
            field = first_unstorable_field(self.cleaned_data)
        return self.cleaned_data


def build_form(lead_form, data=None, *, prefix=None):
    """A bound or unbound Django form for ``lead_form``'s fields."""
    form_class = type("LeadSubmissionForm", (StorableTextMixin, lead_form.get_form_class()), {})
    form = form_class(data, prefix=prefix)
    for field in form.fields.values():
        if isinstance(field, forms.EmailField):
            # What Lead.email stores: a longer address is a field error, not a database one.
            field.max_length = EMAIL_MAX_LENGTH
            field.validators.append(MaxLengthValidator(EMAIL_MAX_LENGTH))
            field.widget.attrs["maxlength"] = str(EMAIL_MAX_LENGTH)
    return form


def build_html_form(lead_form, data=None):
    form = build_form(lead_form, data)
    form.fields[HONEYPOT] = forms.CharField(
        required=False,
        label=_("Leave this field empty"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
    return form


def is_spam(form):
    return bool(form.data.get(HONEYPOT))


def json_safe(cleaned_data):
    """Submitted values as JSON (dates as ISO strings, decimals as strings)."""
    safe = {}
    for name, value in cleaned_data.items():
        if name == HONEYPOT:
            continue
        if isinstance(value, datetime.date | datetime.time):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        safe[name] = value
    return safe


def email_of(lead_form, cleaned_data):
    """The first e-mail field's value: what the leads admin searches and shows."""
    for field in lead_form.fields.all():
        if field.field_type == "email" and cleaned_data.get(field.clean_name):
            return cleaned_data[field.clean_name]
    return ""
