"""Experiment validation rules and lifecycle methods."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from wagtail.models import Page, Site

from sandbox_site.home.models import LandingPage
from wagtail_experiments.models import Experiment, Variant

pytestmark = pytest.mark.django_db


@pytest.fixture
def pages(demo):
    """The demo's three published landing pages, keyed by variant key."""
    return {variant.key: variant.page for variant in demo.variants.all()}


def draft_experiment(pages, slug="draft-test", variants=None, **fields):
    experiment = Experiment(
        name="Draft test", slug=slug, control_page=pages["control"], **fields
    )
    experiment.variants = variants if variants is not None else [
        Variant(key="control", page=pages["control"], weight=50, is_control=True),
        Variant(key="b", page=pages["b"], weight=50),
    ]
    return experiment


def messages(error):
    return " ".join(error.value.messages)


def test_a_complete_experiment_is_valid(pages):
    experiment = draft_experiment(pages)
    experiment.full_clean()
    experiment.save()
    assert experiment.hash_seed == "draft-test"


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        (lambda p: [Variant(key="control", page=p["control"], weight=100, is_control=True)],
         "at least two variants"),
        (lambda p: [Variant(key="a", page=p["control"], weight=50),
                    Variant(key="b", page=p["b"], weight=50)],
         "Exactly one variant must be the control"),
        (lambda p: [Variant(key="a", page=p["control"], weight=50, is_control=True),
                    Variant(key="b", page=p["b"], weight=50, is_control=True)],
         "Exactly one variant must be the control"),
        (lambda p: [Variant(key="control", page=p["b"], weight=50, is_control=True),
                    Variant(key="c", page=p["c"], weight=50)],
         "control variant must show the control page"),
        (lambda p: [Variant(key="control", page=p["control"], weight=50, is_control=True),
                    Variant(key="b", page=p["control"], weight=50)],
         "different page"),
        (lambda p: [Variant(key="control", page=p["control"], weight=50, is_control=True),
                    Variant(key="control", page=p["b"], weight=50)],
         "keys must be unique"),
        (lambda p: [Variant(key="control", page=p["control"], weight=50, is_control=True),
                    Variant(key="b", page=p["b"], weight=0)],
         "weights must be positive"),
        (lambda p: [Variant(key="control", page=p["control"], weight=50, is_control=True),
                    Variant(key="b", page=None, weight=50)],
         "Variant “b” has no page"),
    ],
    ids=["one-variant", "no-control", "two-controls", "control-page", "same-page",
         "same-key", "zero-weight", "no-page"],
)
def test_structural_rules_have_clear_messages(pages, variants, message):
    experiment = draft_experiment(pages, variants=variants(pages))
    with pytest.raises(ValidationError) as error:
        experiment.full_clean()
    assert message in messages(error)


def test_variant_pages_may_be_drafts_but_the_control_must_be_live(pages):
    draft = pages["control"].get_parent().add_child(
        instance=LandingPage(title="Unpublished", slug="unpublished", live=False)
    )
    experiment = draft_experiment(pages, variants=[
        Variant(key="control", page=pages["control"], weight=50, is_control=True),
        Variant(key="b", page=draft, weight=50),
    ])
    experiment.full_clean()
    experiment.save()
    Experiment.objects.get(slug="landing-hero").complete()
    pages["control"].specific.unpublish()
    experiment = Experiment.objects.get(pk=experiment.pk)
    with pytest.raises(ValidationError) as error:
        experiment.start()
    assert "Publish the control page “Landing” before running" in messages(error)
    pages["control"].specific.save_revision().publish()
    experiment = Experiment.objects.get(pk=experiment.pk)
    experiment.start()
    variant = experiment.variants.get(key="b")
    # Never saved as a revision (made in code): one is made, and pinned.
    assert variant.is_pinned and variant.revision.object_id == str(draft.pk)


def test_variant_pages_must_share_a_site(pages):
    other_root = Page.get_first_root_node().add_child(instance=Page(title="Other", slug="other"))
    Site.objects.create(hostname="other.test", root_page=other_root)
    elsewhere = other_root.add_child(instance=LandingPage(title="Elsewhere", slug="elsewhere"))
    experiment = draft_experiment(pages, variants=[
        Variant(key="control", page=pages["control"], weight=50, is_control=True),
        Variant(key="b", page=elsewhere, weight=50),
    ])
    with pytest.raises(ValidationError) as error:
        experiment.full_clean()
    assert "same site" in messages(error)


def test_weights_must_add_up_to_100_to_run(demo, pages):
    demo.complete()
    experiment = draft_experiment(pages, variants=[
        Variant(key="control", page=pages["control"], weight=Decimal("33.3"), is_control=True),
        Variant(key="b", page=pages["b"], weight=50),
    ])
    experiment.full_clean()  # a draft may be unbalanced
    experiment.save()
    with pytest.raises(ValidationError) as error:
        experiment.start()
    assert "add up to 100 % to run (they add up to 83.3 %)" in messages(error)
    assert Experiment.objects.get(pk=experiment.pk).status == "draft"


def test_only_one_experiment_runs_per_control_page(demo, pages):
    experiment = draft_experiment(pages)
    experiment.save()
    with pytest.raises(ValidationError) as error:
        experiment.start()
    assert "“Landing page hero” is already running on this page" in messages(error)


def test_end_must_follow_start(pages):
    now = timezone.now()
    experiment = draft_experiment(pages, starts_at=now, ends_at=now - timedelta(hours=1))
    with pytest.raises(ValidationError) as error:
        experiment.full_clean()
    assert "end must come after the start" in messages(error)


def test_coverage_is_a_percentage(pages):
    experiment = draft_experiment(pages, coverage=Decimal("100.5"))
    with pytest.raises(ValidationError) as error:
        experiment.full_clean()
    assert "coverage" in error.value.message_dict


def test_hash_seed_is_frozen_once_started(demo):
    demo.hash_seed = "something-else"
    with pytest.raises(ValidationError) as error:
        demo.full_clean()
    assert "hash seed cannot change" in messages(error)
    demo.hash_seed = "landing-hero"
    demo.slug = "renamed-slug"
    demo.full_clean()  # the slug may change; the seed stays
    demo.save()
    assert Experiment.objects.get(pk=demo.pk).hash_seed == "landing-hero"


# Lifecycle -----------------------------------------------------------------------------


def test_lifecycle_sets_status_and_timestamps(demo, pages):
    demo.complete()
    experiment = draft_experiment(pages)
    experiment.save()
    assert (experiment.status, experiment.started_at) == ("draft", None)

    experiment.start()
    assert experiment.status == "running" and experiment.started_at is not None
    started_at = experiment.started_at

    experiment.pause()
    assert experiment.status == "paused" and experiment.paused_at is not None

    experiment.resume()
    assert experiment.status == "running" and experiment.started_at == started_at

    winner = experiment.variants.get(key="b")
    experiment.complete(winner=winner)
    experiment.refresh_from_db()
    assert experiment.status == "completed"
    assert experiment.winner == winner and experiment.completed_at is not None

    experiment.archive()
    assert experiment.status == "archived"


def test_future_start_schedules(demo, pages):
    demo.complete()
    experiment = draft_experiment(pages, starts_at=timezone.now() + timedelta(days=1))
    experiment.save()
    experiment.start()
    assert experiment.status == "scheduled" and experiment.started_at is None
    assert not experiment.is_live_at(timezone.now())
    assert experiment.is_live_at(timezone.now() + timedelta(days=2))


@pytest.mark.parametrize(
    ("status", "action"),
    [("draft", "pause"), ("draft", "resume"), ("running", "start"), ("running", "resume"),
     ("completed", "pause"), ("completed", "start"), ("archived", "complete")],
)
def test_invalid_transitions_are_refused(demo, status, action):
    Experiment.objects.filter(pk=demo.pk).update(status=status)
    demo.refresh_from_db()
    with pytest.raises(ValidationError) as error:
        getattr(demo, action)()
    assert f"Cannot {action} an experiment that is {status}" in messages(error)


def test_winner_must_belong_to_the_experiment(demo, pages):
    demo.complete()
    other = draft_experiment(pages, slug="other")
    other.save()
    other.start()
    with pytest.raises(ValidationError):
        other.complete(winner=demo.variants.first())


def test_variants_are_ordered_control_first(pages):
    experiment = draft_experiment(pages, variants=[
        Variant(key="b", page=pages["b"], weight=50, sort_order=0),
        Variant(key="control", page=pages["control"], weight=50, is_control=True, sort_order=1),
    ])
    experiment.save()
    assert [v.key for v in experiment.ordered_variants()] == ["control", "b"]


def test_migrations_are_complete():
    output = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=output)
    assert "No changes detected" in output.getvalue()


# Schedule ------------------------------------------------------------------------------


def test_schedule_starts_and_completes_experiments_on_their_dates(demo, pages):
    from wagtail_experiments.schedule import run_experiment_schedule

    now = timezone.now()
    demo.ends_at = now + timedelta(hours=1)
    demo.save()
    demo.complete()
    later = draft_experiment(pages, starts_at=now + timedelta(hours=2),
                             ends_at=now + timedelta(hours=5))
    later.save()
    later.start()
    assert later.status == "scheduled"

    assert run_experiment_schedule(now) == []
    assert run_experiment_schedule(now + timedelta(hours=3)) == [("draft-test", "running")]
    later.refresh_from_db()
    assert later.started_at == later.starts_at
    assert run_experiment_schedule(now + timedelta(hours=6)) == [("draft-test", "completed")]


def test_schedule_command_and_task(demo):
    from wagtail_experiments.schedule import run_experiment_schedule_task

    Experiment.objects.filter(pk=demo.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    output = StringIO()
    call_command("run_experiment_schedule", stdout=output)
    assert output.getvalue().splitlines() == ["landing-hero: completed", "1 experiment(s) changed."]
    assert run_experiment_schedule_task.call() == []


def test_started_experiments_keep_their_variants_and_keys(demo):
    from wagtail_experiments.tracking import record_exposure

    variant_c = demo.variants.get(key="c")
    assert record_exposure(experiment_id=demo.pk, variant_id=variant_c.pk, visitor_id="v1")
    demo.variants = [v for v in demo.variants.all() if v.key != "c"]
    with pytest.raises(ValidationError) as error:
        demo.full_clean()
    assert "cannot be removed" in messages(error)

    demo = Experiment.objects.get(pk=demo.pk)
    renamed = list(demo.variants.all())
    renamed[1].key = "renamed"
    demo.variants = renamed
    with pytest.raises(ValidationError) as error:
        demo.full_clean()
    assert "keys cannot change" in messages(error)


def test_deleting_an_experiment_deletes_its_data(demo):
    from wagtail_experiments.models import Exposure
    from wagtail_experiments.tracking import record_exposure

    record_exposure(experiment_id=demo.pk, variant_id=demo.variants.first().pk, visitor_id="v")
    demo.delete()
    assert not Exposure.objects.exists()
