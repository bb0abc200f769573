"""Migrations that move data, run forwards on rows made with the models of their time."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from sandbox_site.home.demo import _root_page

APP = "wagtail_experiments"
BEFORE = [(APP, "0002_headless_targeting_flags")]
AFTER = [(APP, "0003_lifecycle_reasons_and_promotion")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_0003_records_winners_served_before_it_as_promoted_in_serve_mode():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes(APP)
    try:
        old = migrate(BEFORE).get_model(APP, "Experiment")
        completed = timezone.now()
        served = old.objects.create(name="Served", slug="served", status="completed",
                                    serve_winner=True, completed_at=completed)
        plain = old.objects.create(name="Plain", slug="plain", status="completed",
                                   completed_at=completed)
        # A flushed database (after other transactional tests) has lost Wagtail's root.
        page = _root_page()
        running = old.objects.create(name="Pages", slug="pages", status="running",
                                     control_page_id=page.pk)
        draft = old.objects.create(name="Draft", slug="draft", control_page_id=page.pk)
        new = migrate(AFTER).get_model(APP, "Experiment")
        served, plain = new.objects.get(pk=served.pk), new.objects.get(pk=plain.pk)
        assert (served.promotion_mode, served.promoted_at) == ("serve", completed)
        assert (plain.promotion_mode, plain.promoted_at) == ("", None)
        assert served.pause_reason == ""
        assert new.objects.get(pk=running.pk).serves_pages
        assert not new.objects.get(pk=draft.pk).serves_pages
        assert not plain.serves_pages
    finally:
        migrate(latest)
