"""``{% experiment_tracker %}`` (the event tracker) and ``{% experiment_variant %}``
(the visitor's variant of a code-level experiment)."""

from django import template
from django.templatetags.static import static
from django.urls import reverse

from .. import shared_cache
from ..conf import get_setting
from ..flags import get_assignment
from ..headless import tracked_experiments
from ..middleware import PERSONALISED

register = template.Library()


@register.inclusion_tag("wagtail_experiments/tracker.html", takes_context=True)
def experiment_tracker(context):
    request = context.get("request")
    config = {
        "endpoint": reverse("wagtail_experiments_api:post_events"),
        "clientExposure": get_setting("EXPOSURE_MODE") == "client",
    }
    if shared_cache.is_enabled() and not shared_cache.dependencies(request):
        # A page without an experiment stays one cached copy for everybody: the tracker
        # asks for the visitor's experiments when it first has an event to send.
        config["experiments"] = None
        config["experimentsUrl"] = reverse("wagtail_experiments_api:get_visitor_experiments")
    else:
        config["experiments"] = tracked_experiments(request)
        if config["experiments"]:
            # The page names this visitor's experiments: private, or (shared-cache mode,
            # on a page keyed by its variants) one copy per variants key.
            setattr(request, PERSONALISED, True)
    return {"config": config, "script_url": static("wagtail_experiments/tracker.js")}


class TemplateVariant(str):
    """The variant key (``""`` when the visitor is not in the experiment), compared and
    printed like a string, with the variant's JSON ``payload`` alongside."""

    payload: dict

    def __new__(cls, key, payload):
        variant = super().__new__(cls, key)
        variant.payload = payload
        return variant

    @property
    def key(self):
        return str(self)


@register.simple_tag(takes_context=True)
def experiment_variant(context, slug):
    """``{% experiment_variant "new-checkout" as checkout %}``: the visitor's variant (and
    ``checkout.payload``) of a code-level experiment; counts the exposure once."""
    request = context.get("request")
    assignment = get_assignment(request, slug) if request is not None else None
    if assignment is None:
        return TemplateVariant("", {})
    return TemplateVariant(assignment.key, assignment.payload)
