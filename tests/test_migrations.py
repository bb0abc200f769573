"""Migrations that move data, run forwards on rows made with the models of their time."""

from contextlib import contextmanager
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
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


@contextmanager
def migrated_back_to(name):
    """The app registry as of migration ``name``, the database migrated back to it; the
    latest migrations again afterwards, whatever happened."""
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes(APP)
    try:
        yield migrate([(APP, name)])
    finally:
        migrate(latest)


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


@pytest.mark.django_db(transaction=True)
def test_0004_pins_the_live_content_of_served_variants():
    from sandbox_site.home.models import LandingPage

    latest = MigrationExecutor(connection).loader.graph.leaf_nodes(APP)
    before = [(APP, "0003_lifecycle_reasons_and_promotion")]
    after = [(APP, "0004_pinned_variant_revisions")]
    try:
        old = migrate(before)
        Experiment, Variant = old.get_model(APP, "Experiment"), old.get_model(APP, "Variant")
        root = _root_page()
        pages = {}
        for slug in ("control", "live", "drafted", "bare", "unstarted", "winner"):
            pages[slug] = root.add_child(instance=LandingPage(title=slug, slug=f"m-{slug}"))
            if slug != "bare":  # "bare" was made in code: it has no revision at all
                pages[slug].save_revision().publish()
        # A draft saved after publishing: visitors were served the live content.
        pages["drafted"].title = "a later draft"
        pages["drafted"].save_revision()
        running = Experiment.objects.create(name="R", slug="r", status="running",
                                            control_page_id=pages["control"].pk)
        draft = Experiment.objects.create(name="D", slug="d", control_page_id=pages["control"].pk)
        done = Experiment.objects.create(name="W", slug="w", status="completed",
                                         serve_winner=True, control_page_id=pages["control"].pk)

        def variant(experiment, key, page, control=False):
            return Variant.objects.create(experiment=experiment, key=key, page_id=page.pk,
                                          weight=50, is_control=control)

        variant(running, "control", pages["control"], control=True)
        for key in ("live", "drafted", "bare"):
            variant(running, key, pages[key])
        variant(draft, "control", pages["control"], control=True)
        variant(draft, "b", pages["unstarted"])
        winner = variant(done, "b", pages["winner"])
        done.winner_id = winner.pk
        done.save()

        new = migrate(after).get_model(APP, "Variant")
        pinned = {
            (v.experiment.slug, v.key): v.revision_id
            for v in new.objects.select_related("experiment")
        }
        live_revision = {slug: LandingPage.objects.get(pk=page.pk).live_revision_id
                         for slug, page in pages.items()}
        assert pinned[("r", "control")] is None  # the control is served live by Wagtail
        assert pinned[("r", "live")] == live_revision["live"]
        assert pinned[("r", "drafted")] == live_revision["drafted"]  # not the later draft
        bare = LandingPage.objects.get(pk=pages["bare"].pk)
        assert pinned[("r", "bare")] == bare.latest_revision_id is not None
        assert pinned[("d", "b")] is None  # pinned when it starts
        assert pinned[("w", "b")] == live_revision["winner"]
    finally:
        migrate(latest)


@pytest.mark.django_db(transaction=True)
def test_0006_declares_the_primary_goal_and_the_goals_seen():
    with migrated_back_to("0005_rate_counters") as old:
        Experiment_, Variant = old.get_model(APP, "Experiment"), old.get_model(APP, "Variant")
        Rollup, Event_ = old.get_model(APP, "DailyRollup"), old.get_model(APP, "Event")
        LeadForm = old.get_model(APP, "LeadForm")
        LeadForm.objects.create(name="Signup", slug="signup-form", goal="signup")
        experiment = Experiment_.objects.create(name="E", slug="e", primary_goal="cta")
        variant = Variant.objects.create(experiment=experiment, key="control", weight=100,
                                         is_control=True)
        seen = {"signup": 9, "purchase": 5, "bad name!": 50, "cta": 3}
        seen.update({f"junk-{n:02}": 1 for n in range(30)})
        for goal, visitors in seen.items():
            Rollup.objects.create(experiment=experiment, variant=variant, goal=goal,
                                  day="2026-11-01", visitors=visitors, events=visitors)
        Event_.objects.create(experiment=experiment, variant=variant, visitor_id="v",
                              event_id="1", type="conversion", goal="purchase", value=12)
        Event_.objects.create(experiment=experiment, variant=variant, visitor_id="v",
                              event_id="2", type="conversion", goal="signup", value=3)
        Event_.objects.create(experiment=experiment, variant=variant, visitor_id="v",
                              event_id="3", type="conversion", goal="cta", value=0)
        for index, value in enumerate((24_999.5, 120)):
            Event_.objects.create(experiment=experiment, variant=variant, visitor_id="v",
                                  event_id=f"big-{index}", type="conversion", goal="junk-00",
                                  value=value)

        new = migrate([(APP, "0006_declared_goals")])
        goals = list(new.get_model(APP, "Goal").objects.filter(experiment_id=experiment.pk)
                     .order_by("sort_order").values_list("name", "kind", "max_value"))
        assert goals[:4] == [
            ("cta", "event", None), ("signup", "server", None), ("purchase", "revenue", None),
            ("junk-00", "revenue", 25_000),  # its largest value, above the default bound
        ]
        # At most 20 goals seen, by converting visitors; invalid names are left out.
        assert len(goals) == 21 and "bad name!" not in [name for name, *_ in goals]


@pytest.mark.django_db(transaction=True)
def test_0007_plans_running_experiments_from_their_observed_baseline():
    with migrated_back_to("0006_declared_goals") as old:
        Experiment_, Variant = old.get_model(APP, "Experiment"), old.get_model(APP, "Variant")
        Rollup = old.get_model(APP, "DailyRollup")
        for slug, visitors, conversions in (("seen", 4000, 500), ("few", 40, 4),
                                            ("none", 0, 0)):
            experiment = Experiment_.objects.create(
                name=slug, slug=slug, primary_goal="lead",
                started_at=timezone.now() if visitors else None,
            )
            control = Variant.objects.create(experiment=experiment, key="control", weight=50,
                                             is_control=True)
            if visitors:
                Rollup.objects.create(experiment=experiment, variant=control, goal="",
                                      day="2026-11-01", visitors=visitors, events=visitors)
                Rollup.objects.create(experiment=experiment, variant=control, goal="lead",
                                      day="2026-11-01", visitors=conversions,
                                      events=conversions)

        new = migrate([(APP, "0007_decision_settings")])
        baselines = dict(new.get_model(APP, "Experiment").objects.values_list("slug",
                                                                              "baseline_rate"))
        # 12.5 % observed on 4,000 visitors; too few visitors or none: the 5 % default.
        assert baselines == {"seen": Decimal("12.50"), "few": Decimal("5"), "none": Decimal("5")}
        # Started experiments keep the tuning their confidence sequence ran with.
        tunings = dict(new.get_model(APP, "Experiment").objects.values_list("slug",
                                                                            "sequential_tuning"))
        assert tunings == {"seen": 5000, "few": 5000, "none": None}


@pytest.mark.django_db(transaction=True)
def test_0008_replays_stored_events_into_visitor_totals_and_squares():
    with migrated_back_to("0007_decision_settings") as old:
        Experiment_, Variant = old.get_model(APP, "Experiment"), old.get_model(APP, "Variant")
        Rollup, Event_ = old.get_model(APP, "DailyRollup"), old.get_model(APP, "Event")
        Completion = old.get_model(APP, "GoalCompletion")
        experiment = Experiment_.objects.create(name="E", slug="e", primary_goal="purchase")
        variant = Variant.objects.create(experiment=experiment, key="control", weight=100,
                                         is_control=True)
        first, second = timezone.now() - timezone.timedelta(days=1), timezone.now()
        # Visitor v bought 10 yesterday, then 5 and 0 today (under a capped-out source);
        # w bought 4 today; a click carries no value.
        for visitor, event_id, created_at, value, source in (
            ("v", "1", first, 10.0, "ads"), ("v", "2", second, 5.0, "junk"),
            ("v", "3", second, 0.0, "junk"), ("w", "1", second, 4.0, ""),
        ):
            Event_.objects.create(experiment=experiment, variant=variant, visitor_id=visitor,
                                  event_id=event_id, type="conversion", goal="purchase",
                                  value=value, created_at=created_at, utm_source=source)
        Event_.objects.create(experiment=experiment, variant=variant, visitor_id="w",
                              event_id="c", type="click", goal="cta", created_at=second)
        for visitor in ("v", "w"):
            Completion.objects.create(experiment=experiment, variant=variant, goal="purchase",
                                      visitor_id=visitor, created_at=first)
        # Today's rows: "(other)" (capped sources), "" (w's, and an erased address's).
        for day, source in ((first, "ads"), (second, "(other)"), (second, "")):
            Rollup.objects.create(experiment=experiment, variant=variant, goal="purchase",
                                  day=timezone.localdate(day), utm_source=source,
                                  visitors=1, events=1)

        new = migrate([(APP, "0008_revenue_per_visitor")])
        totals = dict(new.get_model(APP, "GoalCompletion").objects.values_list("visitor_id",
                                                                               "value_total"))
        assert totals == {"v": 15.0, "w": 4.0}
        squares = dict(new.get_model(APP, "DailyRollup").objects.values_list("utm_source",
                                                                             "value_sq_sum"))
        # v: 10² yesterday, then 15² - 10² today under "(other)"; w: 4².
        assert squares == {"ads": 100.0, "(other)": 125.0, "": 16.0}


def _single_column_indexes(table, column):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        name for name, details in constraints.items()
        if details["index"] and not details["unique"] and details["columns"] == [column]
    }


def _foreign_keys(table):
    """The table's foreign key constraints; on PostgreSQL with their object ids, which a
    constraint dropped and added again (checking every row on the way) does not keep."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT conname, oid FROM pg_constraint WHERE conrelid = %s::regclass "
                "AND contype = 'f'", [table],
            )
            return set(cursor.fetchall())
        constraints = connection.introspection.get_constraints(cursor, table)
    return {name for name, details in constraints.items() if details["foreign_key"]}


@pytest.mark.django_db(transaction=True)
def test_0011_drops_only_the_repeated_experiment_indexes_and_can_restore_them():
    tables = [f"{APP}_{name}" for name in ("event", "exposure", "goalcompletion", "dailyrollup")]
    foreign_keys = {table: _foreign_keys(table) for table in tables}
    assert all(not _single_column_indexes(table, "experiment_id") for table in tables)
    with migrated_back_to("0010_minimum_conversions_at_least_one"):
        assert all(len(_single_column_indexes(table, "experiment_id")) == 1 for table in tables)
        # The foreign keys are the same constraints, never dropped and added again.
        assert {table: _foreign_keys(table) for table in tables} == foreign_keys
    assert all(not _single_column_indexes(table, "experiment_id") for table in tables)
    assert {table: _foreign_keys(table) for table in tables} == foreign_keys
    # Every other index of the events table is still there (the FK indexes of the variant
    # and the user among them).
    assert _single_column_indexes(f"{APP}_event", "variant_id")
    assert _single_column_indexes(f"{APP}_event", "user_id")


@pytest.mark.django_db(transaction=True)
def test_0011_drops_each_index_without_locking_the_table_against_writes():
    output = StringIO()
    call_command("sqlmigrate", APP, "0011_experiment_indexes_not_repeated", stdout=output)
    statements = [line for line in output.getvalue().splitlines() if "INDEX" in line]
    assert len(statements) == 4
    assert all("experiment_id" in statement for statement in statements)
    if connection.vendor == "postgresql":
        # A plain DROP INDEX takes each table's strongest lock, and in one transaction
        # holds all four until the end.
        assert all("DROP INDEX CONCURRENTLY" in statement for statement in statements)
        assert "BEGIN" not in output.getvalue()
