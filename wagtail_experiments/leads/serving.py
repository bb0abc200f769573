"""Handling an HTML lead form posted to the page that shows it."""

import logging

from django.db import DatabaseError
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from ..attribution import utm_from_query
from ..throttling import LEADS, client_address, hit, retry_after
from ..visitor import cookie_visitor_id, counted_variants, logged_in_user
from .blocks import REQUEST_ATTRIBUTE
from .forms import FORM_MARKER, build_html_form, is_spam
from .models import LeadForm
from .submission import attributed_visitor_id, save_lead

logger = logging.getLogger(__name__)

# Set on the request, as (status, retry after seconds), when a lead was not stored because
# the database could not (503) or the client's budget is used up (429).
REFUSED_ATTRIBUTE = "_wagtail_experiments_lead_refused"


def handle_lead_form_post(callback):
    """``on_serve_page`` hook, innermost: view restrictions passed and the variant (if any)
    swapped in, so a lead is saved only by someone allowed to see the page, and a form
    with errors is shown again on the very page the visitor filled in."""

    def inner(page, request, serve_args, serve_kwargs):
        if request.method == "POST" and FORM_MARKER in request.POST:
            # Submitted personal data stays out of Django's error reports.
            request.sensitive_post_parameters = "__ALL__"
            response = _submit(page, request)
            if response is not None:
                return response
        response = callback(page, request, serve_args, serve_kwargs)
        refused = getattr(request, REFUSED_ATTRIBUTE, None)
        if refused is not None:
            # The form is shown again with its data and a message: nothing was stored.
            response.status_code, response["Retry-After"] = refused[0], str(refused[1])
        return response

    return inner


def _submit(page, request):
    lead_form = LeadForm.objects.filter(slug=request.POST[FORM_MARKER]).first()
    if lead_form is None:
        return None
    form = build_html_form(lead_form, request.POST)
    # Every attempt counts, from the same budget as the JSON lead endpoint.
    if not hit(LEADS, client_address(request)):
        form.is_valid()  # shows the data again, with any field errors
        form.add_error(None, _("Too many submissions from your network just now: nothing was "
                               "stored. Please try again in a minute."))
        setattr(request, REQUEST_ATTRIBUTE, {lead_form.slug: form})
        setattr(request, REFUSED_ATTRIBUTE, (429, round(retry_after(LEADS) or 60)))
        return None
    if not form.is_valid():
        setattr(request, REQUEST_ATTRIBUTE, {lead_form.slug: form})
        return None
    if not is_spam(form):
        user = logged_in_user(request)
        try:
            _save(lead_form, form, page, request, user)
        except DatabaseError as error:
            # Logged without the error's text, which can quote the submitted data.
            logger.error("Could not store a lead (%s); the form is shown again.",
                         type(error).__name__)
            form.add_error(None, _("Your details could not be sent just now: nothing was "
                                   "stored. Please try again in a moment."))
            setattr(request, REQUEST_ATTRIBUTE, {lead_form.slug: form})
            setattr(request, REFUSED_ATTRIBUTE, (503, 5))
            return None
    # Post/redirect/get, so reloading the result does not submit again.
    if lead_form.thank_you_page_id and lead_form.thank_you_page.live:
        return redirect(lead_form.thank_you_page.url)
    return redirect(f"{request.path}?lead-sent={lead_form.slug}#lead-{lead_form.slug}")


def _save(lead_form, form, page, request, user):
    visitor_id = attributed_visitor_id(request, cookie_visitor_id(request))
    save_lead(
        lead_form,
        form.cleaned_data,
        visitor_id=visitor_id,
        counted_variants=counted_variants(request, visitor_id),
        page_id=page.pk,
        referrer=request.headers.get("Referer", ""),
        user_id=user.pk if user else None,
        utm=utm_from_query(request.GET),
    )
