"""All of the app's Wagtail wiring: page serving hooks, admin screens, permissions."""

from wagtail import hooks
from wagtail.permissions import register_permission_policy
from wagtail.snippets.models import register_snippet

from .leads.serving import handle_lead_form_post
from .leads.viewsets import LeadFormViewSet
from .models import Event, Experiment, Lead
from .permissions import RecordedDataPermissionPolicy
from .serving import serve_assigned_variant
from .viewsets import ExperimentsMenu

# Innermost in the chain (highest order), so Wagtail's own hooks, view restrictions
# included, run for the control page before the variant is swapped in...
hooks.register("on_serve_page", serve_assigned_variant, order=1000)
# ...and lead forms are handled on the page finally served, past its restrictions.
hooks.register("on_serve_page", handle_lead_form_post, order=1001)

# "view" experiments: see them and their results; "add"/"change"/"delete": manage them.
register_permission_policy(Experiment)
register_permission_policy(Lead, RecordedDataPermissionPolicy(Lead, {"view", "delete"}))
register_permission_policy(Event, RecordedDataPermissionPolicy(Event, {"view"}))

register_snippet(LeadFormViewSet)


@hooks.register("register_admin_viewset")
def register_experiments_menu():
    return ExperimentsMenu()
