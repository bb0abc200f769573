"""Experiments whose pages change under them stop serving, and say why.

Deleting a control or variant page, or unpublishing or moving a control page or changing
its slug (or an ancestor's: a new URL), of a scheduled, running or paused experiment pauses
it with the reason, so that no screen says *Running* for an experiment that serves nothing.
(Variants are served from pinned revisions: a variant page need not be live, nor stay
where it is.) Wagtail's confirmation screens warn first (the ``warn_*`` hooks, wired in
``wagtail_hooks``).
"""

from django.contrib import messages
from django.db import transaction
from django.db.models.signals import pre_delete
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from wagtail.models import Page
from wagtail.signals import page_slug_changed, page_unpublished, post_page_move


def experiments_serving(pages):
    """[(experiment, variant or None for the control role, page)] for the scheduled,
    running and paused experiments that serve any of ``pages`` (a Page queryset)."""
    from .models import Experiment, Variant

    page_ids = pages.values("pk")  # a subquery: a large subtree stays one query
    statuses = Experiment.SERVING_STATUSES
    uses = [
        (experiment, None, experiment.control_page)
        for experiment in Experiment.objects.filter(
            status__in=statuses, control_page_id__in=page_ids
        ).select_related("control_page")
    ]
    variants = (
        Variant.objects.filter(page_id__in=page_ids, experiment__status__in=statuses)
        .exclude(is_control=True)
        .select_related("experiment", "page")
    )
    return uses + [(variant.experiment, variant, variant.page) for variant in variants]


def _now():
    return timezone.localtime().strftime("%Y-%m-%d %H:%M %Z")


def pause_experiments_of_deleted_page(sender, instance, **kwargs):
    if not isinstance(instance, Page):
        return
    specific_class = instance.specific_class
    if specific_class is not None and type(instance) is not specific_class:
        return  # the same page's base row: Django reports it too (multi-table inheritance)
    _pause_each(
        experiments_serving(Page.objects.filter(pk=instance.pk)),
        control_reason=_("The control page “%(title)s” was deleted on %(when)s."),
        variant_reason=_("Variant “%(key)s”'s page “%(title)s” was deleted on %(when)s."),
    )


def pause_experiments_of_unpublished_page(sender, instance, **kwargs):
    """The control page's URL is the one under test: unpublished, it serves nothing (a
    variant page may be a draft: its pinned revision is served). Wagtail also
    unpublishes every page it deletes: decided once the change is committed, so that a
    deleted page gives its one reason ("deleted") only."""
    page_id = instance.pk
    transaction.on_commit(lambda: _pause_if_still_unpublished(page_id))


def _pause_if_still_unpublished(page_id):
    _pause_each(
        experiments_serving(Page.objects.filter(pk=page_id, live=False)),
        control_reason=_("The control page “%(title)s” was unpublished on %(when)s."),
        variant_reason=None,
    )


def pause_experiments_of_moved_controls(sender, instance, url_path_before, url_path_after,
                                        **kwargs):
    """The moved page and the pages beneath it have new URLs: experiments of those URLs
    no longer test what they were started on."""
    if url_path_before != url_path_after:
        _pause_controls_beneath(url_path_after)


def pause_experiments_of_renamed_controls(sender, instance, instance_before, **kwargs):
    """A new slug is a new URL, for the page and every page beneath it; but not a site's
    root page's: URLs start below it."""
    if instance_before.url_path == instance.url_path or instance.is_site_root():
        return
    _pause_controls_beneath(instance.url_path)


def _pause_controls_beneath(url_path):
    _pause_each(
        experiments_serving(Page.objects.filter(url_path__startswith=url_path)),
        control_reason=_("The control page “%(title)s” moved to a new URL on %(when)s."),
        variant_reason=None,  # a variant page's own URL is not under test
    )


def _pause_each(uses, control_reason, variant_reason):
    """Pause each experiment of ``uses`` (from ``experiments_serving``) with the reason for
    the page's role in it; a role without a reason leaves the experiment alone."""
    for experiment, variant, page in uses:
        reason = control_reason if variant is None else variant_reason
        if reason is not None:
            experiment.pause_because(reason % {
                "title": page.title, "key": getattr(variant, "key", ""), "when": _now()
            })


def connect_signals():
    uid = "wagtail_experiments.page_guard"
    # Page subclasses send these with their own class as sender: listen to all senders.
    pre_delete.connect(pause_experiments_of_deleted_page, dispatch_uid=f"{uid}.delete")
    page_unpublished.connect(pause_experiments_of_unpublished_page, dispatch_uid=f"{uid}.unpub")
    post_page_move.connect(pause_experiments_of_moved_controls, dispatch_uid=f"{uid}.move")
    page_slug_changed.connect(pause_experiments_of_renamed_controls, dispatch_uid=f"{uid}.slug")


def warn_before_delete(request, page):
    """``before_delete_page`` hook: the confirmation names the experiments whose control or
    variant pages would go (the page's descendants are deleted with it)."""
    if request.method == "GET":
        _warn(request, page, controls_only=False)


def warn_before_move(request, page, destination):
    """``before_move_page`` hook: the confirmation names the experiments whose control
    pages would get a new URL."""
    if request.method == "GET":
        _warn(request, page, controls_only=True)


def warn_on_unpublish(request, page):
    """``before_unpublish_page`` hook. Wagtail runs it only once the editor confirmed, so
    the message comes with the result; the page editor's notice said it before."""
    _warn(request, page, controls_only=True)


def _warn(request, page, controls_only):
    uses = experiments_serving(Page.objects.descendant_of(page, inclusive=True))
    names = sorted({
        experiment.name for experiment, variant, _page in uses
        if variant is None or not controls_only
    })
    if names:
        messages.warning(
            request,
            ngettext(
                "Part of the experiment %(names)s: deleting its pages, or unpublishing or "
                "moving its control page, pauses it, and visitors see the control page "
                "until it is fixed.",
                "Part of the experiments %(names)s: deleting their pages, or unpublishing "
                "or moving their control pages, pauses them, and visitors see the control "
                "pages until they are fixed.",
                len(names),
            )
            % {"names": ", ".join(f"“{name}”" for name in names)},
        )
