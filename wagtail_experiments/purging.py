"""Cached copies of an experiment's URL go whenever what it serves changes (starting,
pausing, resuming, completing, promoting, re-pinning variant content): through the site's
own ``wagtail.contrib.frontend_cache`` backends (Varnish, Cloudflare, CloudFront...), so a
site gets this from the ``WAGTAILFRONTENDCACHE`` settings it already has. Without them,
nothing is sent."""

from __future__ import annotations

import logging
import threading

from django.db import transaction

from .conf import get_setting

logger = logging.getLogger(__name__)

# Lifecycle steps (their log actions) after which the control URL serves something else.
PURGING_ACTIONS = frozenset(
    f"wagtail_experiments.{step}"
    for step in ("start", "schedule", "pause", "resume", "complete", "promote", "update_content")
)


def purge_after(action, experiment):
    """Purge ``experiment``'s control URL (every variant's cached copy) once the current
    transaction commits, when ``action`` changes what it serves. Never raises."""
    if action not in PURGING_ACTIONS or not experiment.control_page_id:
        return
    page_id = experiment.control_page_id
    transaction.on_commit(lambda: purge_page_twice(page_id))


def purge_page_twice(page_id):
    """Purge now, and again once every process has seen the change: another process may
    serve (and a cache keep) the old variants until it rechecks its route table. Nothing
    (and no timer) without frontend cache backends."""
    from wagtail.contrib.frontend_cache.utils import get_backends

    try:
        if not get_backends():
            return
    except Exception:
        logger.exception("The frontend cache settings are not usable; nothing purged.")
        return
    purge_page(page_id)
    later = threading.Timer(
        get_setting("ROUTE_TABLE_RECHECK_SECONDS") + 0.5, purge_page, args=[page_id]
    )
    later.daemon = True
    later.start()


def purge_page(page_id):
    from wagtail.contrib.frontend_cache.utils import purge_page_from_cache
    from wagtail.models import Page

    try:
        page = Page.objects.filter(pk=page_id).first()
        if page is not None:
            purge_page_from_cache(page.specific)
    except Exception:
        # A cache that cannot be reached must not undo an editor's action; its copies
        # expire by their own lifetime.
        logger.exception("Could not purge the cached copies of page %s.", page_id)
