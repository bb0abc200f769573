"""All of the app's Wagtail wiring: page serving hooks, admin screens, permissions."""

from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.widgets.button import Button
from wagtail.snippets.models import register_snippet

from .compat import register_permission_policy
from .history import register_log_actions
from .leads.serving import handle_lead_form_post
from .leads.viewsets import LeadFormViewSet
from .models import Event, Experiment, Lead
from .page_guard import warn_before_delete, warn_before_move, warn_on_unpublish
from .panels import add_running_experiments_panel
from .permissions import RecordedDataPermissionPolicy
from .serving import serve_assigned_variant
from .views.pages import CreateExperimentFromPageView, notify_editor_of_experiments
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


hooks.register("before_edit_page", notify_editor_of_experiments)
hooks.register("register_log_actions", register_log_actions)
# Deleting, unpublishing or moving pages of an experiment pauses it (page_guard): say so first.
hooks.register("before_delete_page", warn_before_delete)
hooks.register("before_unpublish_page", warn_on_unpublish)
hooks.register("before_move_page", warn_before_move)
hooks.register("construct_homepage_panels", add_running_experiments_panel)


@hooks.register("insert_global_admin_css")
def admin_css():
    return format_html('<link rel="stylesheet" href="{}">',
                       static("wagtail_experiments/admin.css"))


@hooks.register("register_admin_urls")
def register_page_experiment_urls():
    return [
        path(
            "experiments/from-page/<int:page_id>/",
            CreateExperimentFromPageView.as_view(),
            name="wagtail_experiments_create_from_page",
        )
    ]


def _create_experiment_button(page, user, priority):
    if page.is_root() or page.depth <= 1:
        return
    yield Button(
        _("Create experiment"),
        url=reverse("wagtail_experiments_create_from_page", args=[page.pk]),
        icon_name="tasks",
        priority=priority,
    )


@hooks.register("register_page_header_buttons")
def page_header_experiment_button(page, user, view_name=None, next_url=None):
    yield from _create_experiment_button(page, user, priority=80)


@hooks.register("register_page_listing_more_buttons")
def page_listing_experiment_button(page, user, next_url=None):
    yield from _create_experiment_button(page, user, priority=70)
