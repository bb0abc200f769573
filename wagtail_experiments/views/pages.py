"""Experiments from the page editor's side: a notice on pages under test, and a page
action that starts a new experiment from a page."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.generic import TemplateView
from wagtail.models import Page

from ..compat import get_permission_policy
from ..models import Experiment, Goal, Variant
from .base import ExperimentScreenMixin


def variant_parent(page):
    """Where the copy of ``page`` goes: beside it, unless that is outside the page's site
    (a site's home page sits directly under the tree's root), then beneath it."""
    site = page.get_site()
    parent = page.get_parent()
    if site is not None and not parent.path.startswith(site.root_page.path):
        return page
    return parent


def experiments_of_page(page):
    """The page's roles in experiments that are not archived: [(variant, experiment)]."""
    return [
        (variant, variant.experiment)
        for variant in Variant.objects.filter(page=page)
        .exclude(experiment__status=Experiment.Status.ARCHIVED)
        .select_related("experiment")
    ]


def notify_editor_of_experiments(request, page):
    """``before_edit_page`` hook: editing a page under test says so, with a link."""
    if request.method != "GET":
        return
    for variant, experiment in experiments_of_page(page):
        role = _("the control") if variant.is_control else _("variant “%(key)s”") % {
            "key": variant.key
        }
        messages.info(
            request,
            format_html(
                _("This page is {role} of the {status} experiment "
                  "<a class=\"wexp-message-link\" href=\"{url}\">{name}</a>."),
                role=role,
                status=experiment.get_status_display().lower(),
                url=reverse("experiments:edit", args=[experiment.pk]),
                name=experiment.name,
            ),
        )


def _free_slug(model, base, field="slug", **filters):
    slug, counter = base, 1
    while model.objects.filter(**{field: slug}, **filters).exists():
        counter += 1
        slug = f"{base}-{counter}"
    return slug


def _free_name(base):
    """``base``, or "base 2", "base 3"…: experiment names tell experiments apart."""
    name, counter = base, 1
    while Experiment.objects.filter(name=name).exists():
        counter += 1
        name = f"{base} {counter}"
    return name


class CreateExperimentFromPageView(ExperimentScreenMixin, TemplateView):
    """Copy the page as a draft variant page (never published: only served at the control
    URL once the experiment starts) and open a new draft experiment of the two."""

    template_name = "wagtail_experiments/admin/create_from_page.html"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.page = get_object_or_404(Page, pk=kwargs["page_id"]).specific

    def dispatch(self, request, *args, **kwargs):
        parent = variant_parent(self.page)
        may_copy = self.page.permissions_for_user(request.user).can_copy_to(parent)
        may_add = get_permission_policy(Experiment).user_has_permission(request.user, "add")
        if not (may_copy and may_add):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_page_title(self):
        return _("Create an experiment of “%(title)s”") % {"title": self.page.title}

    def get_context_data(self, **kwargs):
        return super().get_context_data(page=self.page, **kwargs)

    @transaction.atomic
    def post(self, request, *args, **kwargs):
        parent = variant_parent(self.page)
        # A draft that keeps the control's title and SEO fields: served only at the
        # control URL, from the revision pinned at the start, so visitors and crawlers
        # never see it is a test. The variant's key and label tell it apart in the admin.
        copy = self.page.copy(
            to=parent,
            update_attrs={
                "slug": _free_slug(Page, f"{self.page.slug}-b", path__startswith=parent.path),
            },
            keep_live=False,
            user=request.user,
        )
        experiment = Experiment(
            name=_free_name(_("%(title)s test") % {"title": self.page.title}),
            slug=_free_slug(Experiment, slugify(f"{self.page.slug}-test")[:60]),
            control_page=self.page,
        )
        experiment.variants = [
            Variant(key="control", label=self.page.title, page=self.page, weight=50,
                    is_control=True, sort_order=0),
            Variant(key="b", label=_("Variant B"), page=copy, weight=50, sort_order=1),
        ]
        # The default primary goal, a lead form's submission: recorded by the server only.
        experiment.goals = [Goal(name=experiment.primary_goal, kind=Goal.Kind.SERVER)]
        experiment.created_by = request.user
        experiment.save()
        messages.success(
            request,
            _("Created a draft copy of the page as variant B. Edit it and save it as a "
              "draft (no need to publish it), then start the experiment."),
        )
        return redirect("experiments:edit", experiment.pk)
