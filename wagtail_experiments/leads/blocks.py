"""A StreamField block that places a lead form on any page."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from wagtail import blocks
from wagtail.snippets.blocks import SnippetChooserBlock

from .. import shared_cache
from .forms import FORM_MARKER, HONEYPOT, build_html_form

# Bound forms of a failed submission, kept on the request so the re-rendered page shows
# the visitor's input and the errors: {form slug: bound form}.
REQUEST_ATTRIBUTE = "wagtail_experiments_lead_forms"


class LeadFormBlock(blocks.StructBlock):
    form = SnippetChooserBlock("wagtail_experiments.LeadForm", label=_("Lead form"))
    heading = blocks.CharBlock(required=False, max_length=120, label=_("Heading"))

    class Meta:
        icon = "form"
        label = _("Lead form")
        template = "wagtail_experiments/blocks/lead_form.html"

    def get_context(self, value, parent_context=None):
        context = super().get_context(value, parent_context)
        lead_form = value["form"]
        request = (parent_context or {}).get("request")
        if lead_form is None:
            return context
        submitted = getattr(request, REQUEST_ATTRIBUTE, {}).get(lead_form.slug)
        context.update(
            {
                "lead_form": lead_form,
                "form": submitted or build_html_form(lead_form),
                "marker_name": FORM_MARKER,
                "honeypot_name": HONEYPOT,
                "sent": request is not None and request.GET.get("lead-sent") == lead_form.slug,
                # On a page a shared cache keeps, no visitor's CSRF token is baked in:
                # the form fetches one as it is submitted (lead_form.js).
                "token_url": reverse("wagtail_experiments_api:get_csrf_token")
                if shared_cache.is_enabled() and not submitted else None,
            }
        )
        return context
