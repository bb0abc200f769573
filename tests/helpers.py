"""Shared helpers for tests that drive the sandbox's demo experiment."""

from django.test import Client

from tests.conftest import BROWSER_UA
from tests.settings import TEST_SERVER_KEY
from wagtail_experiments import assignment
from wagtail_experiments.visitor import ASSIGNMENT_SALT

# Request headers of a front-end server that may name visitors (``visitor_id``).
SERVER = {"HTTP_X_EXPERIMENTS_KEY": TEST_SERVER_KEY}

VARIANT_HEADINGS = {
    "control": "Ship experiments, not opinions",
    "b": "Know what converts in a week",
    "c": "Your landing page, measured",
}


def expected_key(experiment, visitor_id):
    """The variant key GrowthBook's hashing gives ``visitor_id``, or None outside coverage."""
    variants = experiment.ordered_variants()
    index = assignment.assign(
        visitor_id,
        experiment.hash_seed,
        [float(v.weight) for v in variants],
        float(experiment.coverage) / 100,
        experiment.hash_version,
    )
    return None if index == assignment.NOT_IN_EXPERIMENT else variants[index].key


def visitor_in(experiment, key):
    """A fresh visitor id that the experiment buckets into ``key``."""
    while True:
        visitor_id = assignment.new_visitor_id()
        if expected_key(experiment, visitor_id) == key:
            return visitor_id


def served_key(response):
    header = response.headers.get("X-Experiment-Variant")
    return header.split("=", 1)[1] if header else None


def served_heading(response):
    html = response.content.decode()
    return next((key for key, heading in VARIANT_HEADINGS.items() if heading in html), None)


def signed_assignment_cookie(visitor_id, entries):
    """What the server would set for ``entries`` ({experiment id: key})."""
    from django.http import HttpResponse

    response = HttpResponse()
    value = ",".join(f"{experiment_id}:{key}" for experiment_id, key in entries.items())
    response.set_signed_cookie("wexp_asg", f"{visitor_id}|{value}", salt=ASSIGNMENT_SALT)
    return response.cookies["wexp_asg"].value


def consent_from_header(request):
    """A site's own consent check, as CONSENT_CHECK can name it."""
    return request.headers.get("X-Consent") == "granted"


# Staff API tokens: Wagtail's own on Wagtail 8, Django REST framework's on Wagtail 7.4 (the
# staff results API accepts the line's kind only, see wagtail_experiments.compat).


def new_api_token():
    """A token value, known before the database exists."""
    from wagtail_experiments import compat

    if compat.HAS_WAGTAIL_API_TOKENS:
        from wagtail.models import APIToken

        return APIToken.generate_token()
    from rest_framework.authtoken.models import Token

    return Token.generate_key()


def store_api_token(user, value, name="tests"):
    """Make ``value`` a token of ``user``; returns its Authorization header value."""
    from wagtail_experiments import compat

    if compat.HAS_WAGTAIL_API_TOKENS:
        from wagtail.models import APIToken

        APIToken.objects.create(
            user=user, name=name, key_hash=APIToken.hash_token(value), prefix=value[:12]
        )
        return f"Bearer {value}"
    from rest_framework.authtoken.models import Token

    Token.objects.create(user=user, key=value)
    return f"Token {value}"


def publish_variant_pages(experiment, *keys):
    """Publish the (draft) pages of variants ``keys``: a variant page may also be live at
    its own URL. What visitors are served stays the pinned revision."""
    for key in keys:
        experiment.variants.get(key=key).page.specific.save_revision().publish()


# Seeded results ---------------------------------------------------------------------

def seed(demo, key, day, visitors, conversions, goal="lead", source=""):
    from wagtail_experiments.models import DailyRollup

    variant = demo.variants.get(key=key)
    DailyRollup.objects.create(experiment=demo, variant=variant, goal="", day=day,
                               utm_source=source, visitors=visitors, events=visitors)
    DailyRollup.objects.create(experiment=demo, variant=variant, goal=goal, day=day,
                               utm_source=source, visitors=conversions, events=conversions,
                               value_sum=conversions * 2.0)


def days_ago(n):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.localdate() - timedelta(days=n)


def started_days_ago(experiment, n):
    """Date the experiment's start back ``n`` days (to the start of that day), as if it
    had run since: verdicts wait for its minimum days."""
    from datetime import datetime, time

    from django.utils import timezone

    experiment.started_at = timezone.make_aware(datetime.combine(days_ago(n), time.min))
    experiment.save(update_fields=["started_at"])


def exposed_visitor(experiment, key="b"):
    """A browser that was served ``key`` at /landing/ (so it has been exposed)."""
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.cookies["wexp_vid"] = visitor_in(experiment, key)
    assert served_key(client.get("/landing/")) == key
    return client
