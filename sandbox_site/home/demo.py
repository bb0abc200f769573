"""Demo content: a home page, a landing page with two variants, and running experiments:
``landing-hero`` (pages) and ``home-banner`` (code-level, a feature flag on the home page).

Idempotent: running it again leaves existing content alone and only fills what is missing.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import get_supported_language_variant
from wagtail.models import Locale, Page, Site

from wagtail_experiments.models import Experiment, Goal, LeadForm, LeadFormField, Variant

from .models import HomePage, LandingPage

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "changeme"

LANDING_VARIANTS = [
    # (variant key, page slug, label, heading, call to action). Every page has the control's
    # title: visitors and crawlers never learn they are in a test. The variant pages are
    # drafts, served only from the revision pinned when the experiment started.
    ("control", "landing", "Slogan", "Ship experiments, not opinions", "Get the guide"),
    ("b", "landing-b", "Benefit headline", "Know what converts in a week", "Start free"),
    ("c", "landing-c", "Measurement headline", "Your landing page, measured", "Book a demo"),
]
LANDING_TITLE = "Landing"
WEIGHTS = {"control": 34, "b": 33, "c": 33}
# The goals landing-hero counts: (name, recorded from, maximum value, role). A lead is
# recorded by the server only, so no script can forge one; "purchase" carries an order
# amount and is a guardrail, so a headline that wins leads by costing sales cannot win.
LANDING_GOALS = [
    ("lead", Goal.Kind.SERVER, None, Goal.Role.SECONDARY),
    ("cta", Goal.Kind.EVENT, None, Goal.Role.SECONDARY),
    ("signup", Goal.Kind.EVENT, None, Goal.Role.SECONDARY),
    ("video-played", Goal.Kind.EVENT, 3600, Goal.Role.SECONDARY),
    ("purchase", Goal.Kind.REVENUE, 5000, Goal.Role.GUARDRAIL),
]
BANNER_TEXT = "New: every landing page can now run its own experiment."


@transaction.atomic
def load_demo_content():
    """Create whatever is missing; returns the ``landing-hero`` experiment."""
    home = _home_page()
    lead_form = _lead_form()
    pages = {
        key: _landing_page(home, lead_form, *spec, publish=key == "control")
        for key, *spec in LANDING_VARIANTS
    }
    _banner_flag()
    return _experiment(pages)


def ensure_admin_user():
    """The demo's superuser, with the known demo password; returns (username, password)."""
    user, _ = get_user_model().objects.get_or_create(
        username=ADMIN_USERNAME,
        defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True},
    )
    if not user.check_password(ADMIN_PASSWORD):
        user.set_password(ADMIN_PASSWORD)
        user.save()
    return ADMIN_USERNAME, ADMIN_PASSWORD


def _home_page():
    site = Site.objects.filter(is_default_site=True).first()
    if site and isinstance(site.root_page.specific, HomePage):
        return site.root_page.specific
    home = _root_page().add_child(
        instance=HomePage(
            title="Experiments sandbox",
            slug="sandbox-home",
            intro="<p>A demo of <b>wagtail_experiments</b>. Open the landing page.</p>",
        )
    )
    if site:
        old_root = site.root_page
        site.root_page = home
        site.save()
        if old_root.depth > 1 and old_root.pk != home.pk and not old_root.get_children().exists():
            old_root.delete()
    else:
        Site.objects.create(hostname="localhost", port=80, root_page=home, is_default_site=True)
    return home


def _lead_form():
    lead_form = LeadForm.objects.filter(slug="demo-lead").first()
    if lead_form is None:
        lead_form = LeadForm(
            name="Demo lead form",
            slug="demo-lead",
            submit_label="Send me the guide",
            success_message="Thanks! The guide is on its way to your inbox.",
            notify_emails="sales@example.com",
            goal="lead",
        )
        lead_form.fields = [
            LeadFormField(label="Name", field_type="singleline", required=True, sort_order=0),
            LeadFormField(label="Email", field_type="email", required=True, sort_order=1),
        ]
        lead_form.save()
    return lead_form


def _root_page():
    """Wagtail's tree root, created with its locale if the database has none (a flushed
    database has lost what Wagtail's migrations created)."""
    root = Page.get_first_root_node()
    if root is None:
        locale, _ = Locale.objects.get_or_create(
            language_code=get_supported_language_variant(settings.LANGUAGE_CODE)
        )
        root = Page.add_root(instance=Page(title="Root", slug="root", locale=locale))
    return root


def _landing_page(home, lead_form, slug, label, heading, call_to_action, *, publish):
    existing = LandingPage.objects.child_of(home).filter(slug=slug).first()
    if existing:
        return existing
    page = LandingPage(
        title=LANDING_TITLE,
        slug=slug,
        live=publish,
        body=[
            ("hero", {"heading": heading, "subheading": "A demo landing page."}),
            ("text", "<p>Run A/B/n tests of whole pages, straight from Wagtail.</p>"),
            ("call_to_action", {"label": call_to_action, "url": "#lead-demo-lead", "goal": "cta"}),
            ("lead_form", {"form": lead_form, "heading": "Get the guide"}),
        ],
    )
    home.add_child(instance=page)
    revision = page.save_revision()
    if publish:
        revision.publish()
    return page


def _experiment(pages):
    experiment = Experiment.objects.filter(slug="landing-hero").first()
    if experiment is None:
        experiment = Experiment(
            name="Landing page hero",
            slug="landing-hero",
            hypothesis="A benefit-led headline gets more leads than a slogan.",
            control_page=pages["control"],
            hash_seed="landing-hero",
            coverage=100,
            primary_goal="lead",
        )
        experiment.variants = [
            Variant(
                key=key,
                label=label,
                page=pages[key],
                weight=WEIGHTS[key],
                is_control=key == "control",
                sort_order=index,
            )
            for index, (key, _slug, label, *_) in enumerate(LANDING_VARIANTS)
        ]
        experiment.goals = [
            Goal(name=name, kind=kind, max_value=max_value, role=role, sort_order=index)
            for index, (name, kind, max_value, role) in enumerate(LANDING_GOALS)
        ]
        experiment.full_clean()
        experiment.save()
    if experiment.status == Experiment.Status.DRAFT:
        experiment.start()
    return experiment


def _banner_flag():
    """A code-level experiment: the home page template asks for the visitor's variant."""
    experiment = Experiment.objects.filter(slug="home-banner").first()
    if experiment is None:
        experiment = Experiment(
            name="Home page banner (feature flag)",
            slug="home-banner",
            hypothesis="Announcing landing-page experiments on the home page sends more "
            "visitors to the landing page.",
            primary_goal="cta",
        )
        experiment.variants = [
            Variant(key="control", label="No banner", weight=50, is_control=True, sort_order=0),
            Variant(
                key="banner",
                label="Banner",
                weight=50,
                payload={"banner": BANNER_TEXT},
                sort_order=1,
            ),
        ]
        experiment.goals = [Goal(name="cta", kind=Goal.Kind.EVENT)]
        experiment.full_clean()
        experiment.save()
    if experiment.status == Experiment.Status.DRAFT:
        experiment.start()
    return experiment
