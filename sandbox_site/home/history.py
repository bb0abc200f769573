"""Three weeks of simulated visitors for the demo's ``landing-hero``, so that every screen
shows meaningful results the first time a newcomer opens it.

Every visitor goes through the plugin's own recording code, as real traffic does: the
GrowthBook bucketing picks the variant, ``record_exposure`` counts the visit,
``record_events`` the clicks and purchases, and ``save_lead`` the lead form submissions,
each at the moment it happened. Nothing is written to the rollups directly.

The story: the benefit headline (b) brings 60 % more leads than the slogan, the
measurement headline (c) about as many; clicks follow leads a little; signups, video plays
and purchases (the guardrail) are the same everywhere. Traffic grows over the weeks and
dips at weekends.

And one finished experiment, ``signup-button`` (code-level: a button colour), which ran for
two weeks until ten days ago, was completed with its winner and serves it to everyone.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from wagtail_experiments import assignment
from wagtail_experiments.leads.submission import save_lead
from wagtail_experiments.models import (
    DailyRollup,
    Experiment,
    Exposure,
    Goal,
    LeadForm,
    Variant,
)
from wagtail_experiments.routing import get_route_table
from wagtail_experiments.tracking import TrackedEvent, record_events, record_exposure

HISTORY_DAYS = 21
DAILY_VISITORS = 800
WEEKEND_SHARE = 0.7
# Per variant key: the chance that a visitor submits the lead form, and clicks the call to
# action.
LEAD_RATES = {"control": 0.05, "b": 0.08, "c": 0.052}
CTA_RATES = {"control": 0.22, "b": 0.25, "c": 0.22}
PURCHASE_RATE = 0.02
SIGNUP_RATE = 0.03
# Visitors who play the video, and for how many seconds (the goal takes up to 3,600).
VIDEO_RATE = 0.1
# Order amounts: log-normal around 60 (the demo's purchase goal takes up to 5,000).
PURCHASE_LOG_MEAN, PURCHASE_LOG_SD = 4.1, 0.6
UTM_SOURCES = (("", 0.45), ("ads", 0.35), ("newsletter", 0.20))
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
# The finished experiment: it ran FINISHED_DAYS days, ending FINISHED_AGO days ago.
FINISHED_SLUG = "signup-button"
FINISHED_DAYS, FINISHED_AGO, FINISHED_DAILY_VISITORS = 14, 10, 300
SIGNUP_RATES = {"control": 0.08, "green": 0.11}


def load_demo_history(experiment=None, *, days=None, daily_visitors=None, seed=2026):
    """Record ``days`` (default ``HISTORY_DAYS``) days of visitors to ``experiment``
    (default: ``landing-hero``), ending now; it is dated as started then. Does nothing to
    an experiment that already has visitors. Returns the number of visitors recorded."""
    experiment = experiment or Experiment.objects.get(slug="landing-hero")
    days = days or HISTORY_DAYS
    daily_visitors = daily_visitors or DAILY_VISITORS
    if Exposure.objects.filter(experiment=experiment).exists():
        return 0
    # Whole days, up to today's midnight: no half-empty last day in the charts.
    start = _midnight(days)
    Experiment.objects.filter(pk=experiment.pk).update(started_at=start)
    experiment.started_at = start
    rng = random.Random(seed)
    route = get_route_table().by_slug[experiment.slug]
    visitors = 0
    with transaction.atomic():
        for day in range(days):
            midnight = start + timedelta(days=day)
            for _ in range(_visitors_on(midnight, day, days, daily_visitors, rng)):
                # Before 23:00, so that the clicks and leads half an hour later fall on the
                # same day.
                moment = midnight + timedelta(seconds=rng.uniform(0, 82_800))
                visitors += 1
                _visit(experiment, route, rng, moment, visitors)
    return visitors


def _midnight(days_ago):
    """The start of the day ``days_ago`` days before today, in the site's time zone."""
    today = DailyRollup.day_of()
    return datetime.combine(today - timedelta(days=days_ago), time.min,
                            tzinfo=timezone.get_default_timezone())


def load_finished_experiment(*, seed=2025):
    """``signup-button``, completed with its winner served, after two weeks of recorded
    visitors; returns it (as it is, when it exists already)."""
    experiment = Experiment.objects.filter(slug=FINISHED_SLUG).first()
    if experiment is not None:
        return experiment
    experiment = Experiment(
        name="Signup button colour", slug=FINISHED_SLUG, primary_goal="signup",
        hypothesis="A green signup button gets more signups than the blue one.",
        minimum_detectable_effect=30, baseline_rate=8,
    )
    experiment.variants = [
        Variant(key="control", label="Blue button", weight=50, is_control=True,
                payload={"colour": "blue"}, sort_order=0),
        Variant(key="green", label="Green button", weight=50, payload={"colour": "green"},
                sort_order=1),
    ]
    experiment.goals = [Goal(name="signup", kind=Goal.Kind.EVENT)]
    experiment.full_clean()
    experiment.save()
    experiment.start()
    start = _midnight(FINISHED_AGO + FINISHED_DAYS)
    rng = random.Random(seed)
    route = get_route_table().by_slug[experiment.slug]
    with transaction.atomic():
        for day in range(FINISHED_DAYS):
            midnight = start + timedelta(days=day)
            for _ in range(round(FINISHED_DAILY_VISITORS * rng.uniform(0.9, 1.1))):
                moment = midnight + timedelta(seconds=rng.uniform(0, 82_800))
                variant = _bucketed(route, _visitor_id(rng))
                if variant is None:
                    continue
                visitor_id, variant = variant
                record_exposure(experiment_id=experiment.pk, variant_id=variant.id,
                                visitor_id=visitor_id, at=moment)
                if rng.random() < SIGNUP_RATES[variant.key]:
                    record_events(
                        [TrackedEvent(type="custom", experiment=experiment.slug, goal="signup",
                                      event_id=f"{visitor_id}-signup")],
                        visitor_id=visitor_id, at=moment + timedelta(minutes=2),
                    )
    experiment.complete(winner=experiment.variants.get(key="green"))
    experiment.promote_winner("serve")
    ended = _midnight(FINISHED_AGO)
    Experiment.objects.filter(pk=experiment.pk).update(
        started_at=start, completed_at=ended, promoted_at=ended
    )
    return Experiment.objects.get(pk=experiment.pk)


def _visitor_id(rng):
    return "".join(rng.choice(_ID_ALPHABET) for _ in range(21))


def _bucketed(route, visitor_id):
    """(visitor id, routed variant) as serving's bucketing assigns it, or None."""
    index = assignment.assign(visitor_id, route.seed, route.weights, route.coverage,
                              route.hash_version)
    if index == assignment.NOT_IN_EXPERIMENT:
        return None
    return visitor_id, route.variants[index]


def _visitors_on(moment, day, days, daily_visitors, rng):
    """Growing traffic (from 80 % to 120 % of the average), fewer at weekends."""
    growth = 0.8 + 0.4 * day / max(days - 1, 1)
    weekend = WEEKEND_SHARE if timezone.localtime(moment).weekday() >= 5 else 1.0
    return round(daily_visitors * growth * weekend * rng.uniform(0.9, 1.1))


def _visit(experiment, route, rng, moment, number):
    bucketed = _bucketed(route, _visitor_id(rng))
    if bucketed is None:
        return
    visitor_id, variant = bucketed
    source = rng.choices([s for s, _ in UTM_SOURCES], [w for _, w in UTM_SOURCES])[0]
    record_exposure(experiment_id=experiment.pk, variant_id=variant.id, visitor_id=visitor_id,
                    utm={"utm_source": source} if source else None, at=moment)
    later = moment + timedelta(minutes=rng.uniform(1, 30))
    events = []
    if rng.random() < CTA_RATES[variant.key]:
        events.append(TrackedEvent(type="click", experiment=experiment.slug, goal="cta",
                                   event_id=f"{visitor_id}-cta"))
    if rng.random() < SIGNUP_RATE:
        events.append(TrackedEvent(type="custom", experiment=experiment.slug, goal="signup",
                                   event_id=f"{visitor_id}-signup"))
    if rng.random() < VIDEO_RATE:
        events.append(TrackedEvent(type="custom", experiment=experiment.slug,
                                   goal="video-played", value=rng.randint(5, 600),
                                   event_id=f"{visitor_id}-video"))
    if rng.random() < PURCHASE_RATE:
        amount = round(min(rng.lognormvariate(PURCHASE_LOG_MEAN, PURCHASE_LOG_SD), 5000), 2)
        events.append(TrackedEvent(type="conversion", experiment=experiment.slug,
                                   goal="purchase", value=amount,
                                   event_id=f"{visitor_id}-purchase"))
    if events:
        record_events(events, visitor_id=visitor_id, at=later)
    if rng.random() < LEAD_RATES[variant.key]:
        save_lead(
            LeadForm.objects.get(slug="demo-lead"),
            {"name": f"Demo visitor {number}", "email": f"visitor{number}@example.com"},
            visitor_id=visitor_id, page_id=experiment.control_page_id, at=later,
            notify_form=False, utm={"utm_source": source} if source else None,
        )
