"""A finished experiment says how it ended, everywhere: status, chosen winner, promotion
mode and date, instead of a leader and days remaining."""

import pytest

from wagtail_experiments.models import Experiment
from wagtail_experiments.results import experiment_results

pytestmark = pytest.mark.django_db

ADMIN = "/admin/experiments/"


def text(response):
    return response.content.decode().replace("&#x27;", "'")


def test_a_served_winner_is_the_final_state_on_every_screen(demo, admin_client):
    winner = demo.variants.get(key="c")
    admin_client.post(f"{ADMIN}complete/{demo.pk}/", {"winner": winner.pk})
    admin_client.post(f"{ADMIN}promote/{demo.pk}/", {"mode": "serve"})
    experiment = Experiment.objects.get(pk=demo.pk)
    assert (experiment.promotion_mode, experiment.status) == ("serve", "completed")
    assert experiment.promoted_at is not None

    listing = text(admin_client.get(ADMIN))
    assert "Completed: winner c, served to every visitor since" in listing
    assert "c (chosen winner)" in listing and "leading" not in listing
    dashboard = text(admin_client.get("/admin/"))
    assert "Finished in the last 30 days" in dashboard
    assert "winner c, served to every visitor since" in dashboard
    results = text(admin_client.get(f"{ADMIN}results/{demo.pk}/"))
    assert "Winner c, served to every visitor since" in results
    assert "the figures below are final" in results and "remaining" not in results
    history = text(admin_client.get(f"{ADMIN}history/{demo.pk}/"))
    assert "Completed; winner: c" in history and "Winner c served to every visitor" in history

    outcome = experiment_results(experiment)["outcome"]
    assert outcome["winner"] == "c" and outcome["promotion_mode"] == "serve"
    assert outcome["winner_served"] and outcome["promoted_at"]


def test_completed_without_a_winner(demo, admin_client):
    admin_client.post(f"{ADMIN}complete/{demo.pk}/", {"winner": ""})
    listing = text(admin_client.get(ADMIN))
    assert "Completed: no winner" in listing and "no winner chosen" in listing
    assert experiment_results(Experiment.objects.get(pk=demo.pk))["outcome"]["winner"] is None


def test_a_published_winner_says_so(demo, admin_client):
    winner = demo.variants.get(key="b")
    admin_client.post(f"{ADMIN}complete/{demo.pk}/", {"winner": winner.pk})
    admin_client.post(f"{ADMIN}promote/{demo.pk}/", {"mode": "publish"})
    experiment = Experiment.objects.get(pk=demo.pk)
    assert experiment.promotion_mode == "publish" and not experiment.serve_winner
    assert "winner b, published onto the control page on" in text(admin_client.get(ADMIN))


def test_a_running_experiment_has_no_outcome(demo):
    results = experiment_results(demo)
    assert results["outcome"] is None and results["pause_reason"] is None
