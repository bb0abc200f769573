"""``{% experiment_tracker %}`` (the event tracker) and ``{% experiment_variant %}``
(the visitor's variant of a code-level experiment)."""

from django import template
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone

from ..conf import get_setting
from ..exclusions import may_track
from ..flags import get_assignment
from ..middleware import PERSONALISED
from ..routing import get_route_table
from ..visitor import Visitor, cookie_visitor_id

register = template.Library()


def visitor_experiments(request):
    """Slugs of the running experiments this visitor is in: the one served on this page,
    and those remembered in the signed assignment cookie (no database query)."""
    if request is None or not may_track(request):
        return []
    slugs = []
    assignment = getattr(request, "experiment_assignment", None)
    if assignment is not None and assignment.variant is not None and assignment.counts:
        slugs.append(assignment.route.slug)
    # The request's visitor as this request left it (a flag may have just assigned a new
    # visitor), else as the cookie says.
    if hasattr(request, "_wagtail_experiments_visitor") or cookie_visitor_id(request):
        remembered = Visitor.from_request(request).assignments
        for route in get_route_table().collecting(remembered, timezone.now()):
            if route.slug not in slugs:
                slugs.append(route.slug)
    return slugs


@register.inclusion_tag("wagtail_experiments/tracker.html", takes_context=True)
def experiment_tracker(context):
    request = context.get("request")
    experiments = visitor_experiments(request)
    if experiments:
        # The page now names this visitor's experiments: shared caches must not keep it.
        setattr(request, PERSONALISED, True)
    return {
        "config": {
            "endpoint": reverse("wagtail_experiments_api:post_events"),
            "experiments": experiments,
            "clientExposure": get_setting("EXPOSURE_MODE") == "client",
        },
        "script_url": static("wagtail_experiments/tracker.js"),
    }


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
