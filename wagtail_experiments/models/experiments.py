"""Experiments, their variants, and the exposures they collect."""

from decimal import Decimal

import swapper
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalKey
from modelcluster.models import ClusterableModel, get_all_child_relations
from wagtail.admin.panels import FieldPanel, FieldRowPanel, InlinePanel, MultiFieldPanel
from wagtail.contrib.forms.models import validate_to_address
from wagtail.log_actions import log
from wagtail.models import Orderable

from .. import stats
from ..forms import ExperimentAdminForm
from ..purging import purge_after
from ..targeting import DEVICES, Targeting, split_list
from ..text import email_list
from ..verdicts import DEFAULT_MINIMUM_CONVERSIONS, DEFAULT_MINIMUM_DAYS, DecisionRule
from .goals import validate_goal_name

PAGE_MODEL = swapper.get_model_name("wagtailcore", "Page")



HUNDRED = Decimal("100")
WEIGHT_ROUNDING = Decimal("0.01")


def keep_pinned_revision(collector, field, sub_objs, using):
    """``on_delete`` of a variant's pinned revision: pruning old revisions (Wagtail's
    ``purge_revisions``) must not take away what visitors are served, so it is protected,
    unless the revision's page itself is being deleted with its revisions (the experiment
    then pauses, see ``page_guard``)."""
    from wagtail.models import Page, Revision

    deleted_pages = {
        str(obj.pk) for objs in collector.data.values() for obj in objs if isinstance(obj, Page)
    }
    revision_pages = {
        revision.pk: revision.object_id for revision in collector.data.get(Revision, ())
    }
    if all(revision_pages.get(variant.revision_id) in deleted_pages for variant in sub_objs):
        collector.add_field_update(field, None, sub_objs)
        return
    models.PROTECT(collector, field, sub_objs, using)


class ExperimentQuerySet(models.QuerySet):
    def routable(self):
        """Experiments the router may serve: running, scheduled (served once due), and
        completed ones whose winner is served to everyone."""
        return self.filter(
            models.Q(status__in=[Experiment.Status.RUNNING, Experiment.Status.SCHEDULED])
            | models.Q(status=Experiment.Status.COMPLETED, serve_winner=True)
        )


class Experiment(ClusterableModel):
    """An A/B/n test of pages served at one URL: the control page's."""

    class Method(models.TextChoices):
        SEQUENTIAL = "sequential", _("Sequential (safe to check daily)")
        FIXED = "fixed", _("Fixed horizon (check once, at the planned sample size)")

    class DecisionRuleChoice(models.TextChoices):
        SIGNIFICANCE = "significance", _("Significance (p-value below alpha)")
        BAYESIAN = "bayesian", _("Bayesian (chance to beat control and expected loss)")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        ARCHIVED = "archived", _("Archived")

    # Statuses in which the experiment serves its pages, will (scheduled) or may again
    # (paused): page changes pause it, and its pages are tagged in the explorer.
    SERVING_STATUSES = (Status.SCHEDULED, Status.RUNNING, Status.PAUSED)

    name = models.CharField(_("name"), max_length=255)
    slug = models.SlugField(
        _("slug"),
        max_length=64,
        unique=True,
        help_text=_("Identifies the experiment in URLs, the API and the tracker."),
    )
    hypothesis = models.TextField(
        _("hypothesis"), blank=True, help_text=_("What you expect to change, and why.")
    )
    control_page = models.ForeignKey(
        PAGE_MODEL,
        verbose_name=_("control page"),
        null=True,
        on_delete=models.SET_NULL,
        blank=True,
        related_name="+",
        help_text=_("The page whose URL is under test. Visitors keep seeing this URL. Leave "
                    "empty for a code-level experiment (feature flag): its variants have no "
                    "pages, and your code asks for the visitor's variant."),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    coverage = models.DecimalField(
        _("coverage (%)"),
        max_digits=5,
        decimal_places=2,
        default=HUNDRED,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(HUNDRED)],
        help_text=_("Share of visitors who enter the experiment; the rest see the control "
                    "and are not counted."),
    )
    hash_seed = models.CharField(
        _("hash seed"),
        max_length=255,
        blank=True,
        help_text=_("Defaults to the slug. Frozen once the experiment has started."),
    )
    hash_version = models.PositiveSmallIntegerField(
        _("hash version"), default=2, choices=[(1, "1"), (2, "2")]
    )
    primary_goal = models.CharField(
        _("primary goal"),
        max_length=64,
        default="lead",
        validators=[validate_goal_name],
        help_text=_("The goal whose conversions decide the experiment. It is declared "
                    "among the goals below when you save."),
    )
    goal_page = models.ForeignKey(
        PAGE_MODEL,
        verbose_name=_("goal page"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Optional: a visit to this page (e.g. a thank-you page) counts as reaching "
                    "the primary goal."),
    )
    method = models.CharField(
        _("statistical method"), max_length=16, choices=Method.choices, default=Method.SEQUENTIAL
    )
    alpha = models.DecimalField(
        _("significance level (alpha)"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.05"),
        validators=[MinValueValidator(Decimal("0.001")), MaxValueValidator(Decimal("0.2"))],
        help_text=_("Chance of declaring a winner when there is no real difference."),
    )
    minimum_detectable_effect = models.DecimalField(
        _("minimum detectable effect (%)"),
        max_digits=6,
        decimal_places=2,
        default=Decimal("10"),
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("1000"))],
        help_text=_("Smallest relative lift worth detecting; sets the planned sample size."),
    )
    baseline_rate = models.DecimalField(
        _("expected baseline conversion rate (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("5"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("99.99"))],
        help_text=_("How often the control usually reaches the primary goal. With the "
                    "minimum detectable effect, it sets the planned sample size."),
    )
    power = models.DecimalField(
        _("power (%)"),
        max_digits=4,
        decimal_places=1,
        default=Decimal("80"),
        validators=[MinValueValidator(Decimal("50")), MaxValueValidator(Decimal("99.9"))],
        help_text=_("Chance of detecting the minimum detectable effect if it is real."),
    )
    sequential_tuning = models.PositiveIntegerField(
        _("sequential tuning (visitors)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(100)],
        help_text=_("Visitors in the control and one variant together at which the "
                    "sequential test is most sensitive. Empty: the planned sample size, "
                    "kept when the experiment starts."),
    )
    minimum_conversions = models.PositiveIntegerField(
        _("minimum conversions per variant"),
        default=DEFAULT_MINIMUM_CONVERSIONS,
        # At least one: without any conversion in an arm a verdict would rest on one look
        # of the exact test, repeated daily.
        validators=[MinValueValidator(1)],
        help_text=_("No verdict before every variant has this many conversions."),
    )
    minimum_days = models.PositiveSmallIntegerField(
        _("minimum days"),
        default=DEFAULT_MINIMUM_DAYS,
        validators=[MaxValueValidator(365)],
        help_text=_("No verdict before the experiment has run this long: weekdays and "
                    "weekends convert differently."),
    )
    decision_rule = models.CharField(
        _("decision rule"),
        max_length=16,
        choices=DecisionRuleChoice.choices,
        default=DecisionRuleChoice.SIGNIFICANCE,
    )
    chance_to_win = models.DecimalField(
        _("chance to beat control needed (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("95"),
        validators=[MinValueValidator(Decimal("50")), MaxValueValidator(Decimal("99.99"))],
        help_text=_("Bayesian rule only."),
    )
    max_expected_loss = models.DecimalField(
        _("acceptable expected loss (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0.25"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_("Bayesian rule only: how much of the control's conversion rate you "
                    "accept to lose on average, should the variant be worse after all."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    notify_emails = models.CharField(
        _("also notify"),
        max_length=1000,
        blank=True,
        validators=[validate_to_address],
        help_text=_("E-mail addresses, separated by commas, told (besides whoever created "
                    "the experiment) when it reaches a verdict, when its traffic split "
                    "goes wrong, and when its schedule ends."),
    )
    target_site = models.ForeignKey(
        "wagtailcore.Site",
        verbose_name=_("site"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Code-level experiments only: limit them to visitors of this site. A page "
                    "experiment always runs on its control page's site."),
    )
    target_utm_sources = models.CharField(
        _("UTM sources"),
        max_length=255,
        blank=True,
        help_text=_("Comma-separated, e.g. “google, newsletter”. Only visitors entering the "
                    "experiment from a URL with one of these utm_source values take part. "
                    "Empty: everybody."),
    )
    target_utm_mediums = models.CharField(
        _("UTM media"),
        max_length=255,
        blank=True,
        help_text=_("Comma-separated utm_medium values."),
    )
    target_utm_campaigns = models.CharField(
        _("UTM campaigns"),
        max_length=255,
        blank=True,
        help_text=_("Comma-separated utm_campaign values."),
    )
    target_devices = models.JSONField(
        _("devices"),
        default=list,
        blank=True,
        help_text=_("Only these device classes take part. None ticked: all devices."),
    )
    target_locales = models.CharField(
        _("locales"),
        max_length=255,
        blank=True,
        help_text=_("Comma-separated language codes, e.g. “en, fr-ca”: “en” also admits "
                    "“en-gb”. Matched against the request's active language."),
    )
    serve_winner = models.BooleanField(
        _("serve the winner"),
        default=False,
        editable=False,
        help_text=_("After completion, every visitor of the control URL sees the winner."),
    )
    winner = models.ForeignKey(
        "Variant",
        verbose_name=_("winner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    promotion_mode = models.CharField(
        _("how the winner was promoted"), max_length=16, blank=True, editable=False,
        choices=[("serve", _("served at the control URL")),
                 ("publish", _("published onto the control page"))],
    )
    promoted_at = models.DateTimeField(_("promoted at"), null=True, blank=True, editable=False)
    serves_pages = models.BooleanField(
        _("serves pages"), default=False, editable=False,
        help_text=_("Set for good when the experiment starts with a control page, so that "
                    "deleting its pages never turns it into a code-level experiment."),
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True, editable=False)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True, editable=False)
    pause_reason = models.CharField(
        _("why it is paused"), max_length=1000, blank=True, editable=False,
        help_text=_("Set when a page the experiment serves was deleted, unpublished or "
                    "moved; cleared on resume."),
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ExperimentQuerySet.as_manager()

    base_form_class = ExperimentAdminForm
    panels = [
        FieldPanel("name"),
        FieldPanel("slug"),
        FieldPanel("hypothesis"),
        FieldPanel("control_page"),
        InlinePanel("variants", heading=_("Variants"), label=_("Variant"), min_num=2),
        MultiFieldPanel(
            [
                FieldPanel("coverage"),
                FieldRowPanel([FieldPanel("starts_at"), FieldPanel("ends_at")]),
            ],
            heading=_("Audience and schedule"),
        ),
        MultiFieldPanel(
            [
                FieldRowPanel([
                    FieldPanel("target_utm_sources"),
                    FieldPanel("target_utm_mediums"),
                    FieldPanel("target_utm_campaigns"),
                ]),
                FieldPanel("target_devices"),
                FieldRowPanel([FieldPanel("target_locales"), FieldPanel("target_site")]),
            ],
            heading=_("Targeting"),
            classname="collapsed",
        ),
        MultiFieldPanel(
            [
                FieldPanel("primary_goal"),
                InlinePanel(
                    "goals",
                    heading=_("Goals"),
                    label=_("Goal"),
                    help_text=_(
                        "Only these goals are recorded: declare every goal your pages' "
                        "call-to-action blocks, tracker events and lead forms use. Event and "
                        "revenue goals are sent by the tracker or the events API (a revenue "
                        "goal's events carry an amount up to its maximum value). Server-only "
                        "goals cannot be sent: a stored lead form submission, or a visit to "
                        "the goal page, counts. Use them for lead forms."
                    ),
                ),
                FieldPanel("goal_page"),
                FieldPanel("method"),
                FieldRowPanel([
                    FieldPanel("baseline_rate"),
                    FieldPanel("minimum_detectable_effect"),
                    FieldPanel("alpha"),
                    FieldPanel("power"),
                ]),
                FieldRowPanel([FieldPanel("minimum_conversions"), FieldPanel("minimum_days")]),
            ],
            heading=_("Goal and statistics"),
        ),
        MultiFieldPanel(
            [
                FieldPanel("decision_rule"),
                FieldRowPanel([FieldPanel("chance_to_win"), FieldPanel("max_expected_loss")]),
                FieldPanel("sequential_tuning"),
            ],
            heading=_("Decision rule (advanced)"),
            classname="collapsed",
        ),
        FieldPanel("notify_emails"),
        MultiFieldPanel(
            [FieldPanel("hash_seed"), FieldPanel("hash_version")],
            heading=_("Bucketing (advanced)"),
            classname="collapsed",
        ),
    ]

    class Meta:
        verbose_name = _("experiment")
        verbose_name_plural = _("experiments")
        ordering = ["-created_at"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.hash_seed:
            self.hash_seed = self.slug
        if kwargs.get("update_fields") is None:
            self.declare_primary_goal()
        super().save(*args, **kwargs)

    def declare_primary_goal(self):
        """The primary goal is always declared: naming it declares it, as recorded by the
        server only when a lead form counts it (so no script can send it), else as an
        event goal. Goals stay editable below it."""
        from ..leads.models import LeadForm
        from .goals import Goal

        goals = list(self.goals.all())
        if not self.primary_goal or any(goal.name == self.primary_goal for goal in goals):
            return
        by_lead_form = LeadForm.objects.filter(goal=self.primary_goal).exists()
        self.goals.add(Goal(
            name=self.primary_goal,
            kind=Goal.Kind.SERVER if by_lead_form else Goal.Kind.EVENT,
            sort_order=min((goal.sort_order or 0 for goal in goals), default=1) - 1,
        ))

    # Validation -------------------------------------------------------------------------

    @property
    def is_code_level(self):
        """A feature-flag experiment: no pages at all, code asks for the visitor's variant.
        (A page experiment whose control page was deleted is not one: it is not served.)"""
        return not self.serves_pages and self.control_page_id is None and not any(
            variant.page_id for variant in self.variants.all()
        )

    def targeting(self):
        """The audience rules, as the router and the published config apply them."""
        return Targeting(
            utm_source=split_list(self.target_utm_sources),
            utm_medium=split_list(self.target_utm_mediums),
            utm_campaign=split_list(self.target_utm_campaigns),
            device=tuple(device for device in DEVICES if device in (self.target_devices or ())),
            locale=tuple(code.replace("_", "-") for code in split_list(self.target_locales)),
        )

    def clean(self):
        errors = {}
        if self.name and Experiment.objects.filter(name=self.name).exclude(pk=self.pk).exists():
            errors["name"] = _("Another experiment has this name: choose one that tells them "
                               "apart.")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The end must come after the start.")
        unknown_devices = set(self.target_devices or ()) - set(DEVICES)
        if not isinstance(self.target_devices, list) or unknown_devices:
            errors["target_devices"] = _("Choose devices among: %(devices)s.") % {
                "devices": ", ".join(DEVICES)
            }
        if self.baseline_rate and self.minimum_detectable_effect and (
            self.baseline_rate * (1 + self.minimum_detectable_effect / HUNDRED) >= HUNDRED
        ):
            errors["minimum_detectable_effect"] = _(
                "From a %(baseline)s %% baseline, this lift would take the rate to 100 %% or "
                "more: choose a smaller effect or baseline."
            ) % {"baseline": self.baseline_rate}
        if self.control_page_id and self.target_site_id:
            control_site = self.control_page.get_site()
            if control_site is not None and control_site.pk != self.target_site_id:
                errors["target_site"] = _(
                    "A page experiment runs on its control page's site; leave this empty."
                )
        if self.pk and self.started_at:
            stored = Experiment.objects.filter(pk=self.pk).values("hash_seed", "hash_version")
            stored = stored.first()
            if stored and (self.hash_seed or self.slug) != stored["hash_seed"]:
                errors["hash_seed"] = _(
                    "The hash seed cannot change once the experiment has started: "
                    "every visitor would move to another variant."
                )
            if stored and self.hash_version != stored["hash_version"]:
                errors["hash_version"] = _(
                    "The hash version cannot change once the experiment has started."
                )
            errors.update(self._planned_setting_errors())
        if errors:
            raise ValidationError(errors)
        variants = list(self.variants.all())
        variant_errors = self.variant_errors(variants) + self._started_variant_errors(variants)
        if variant_errors:
            raise ValidationError(variant_errors)
        goal_errors = self.goal_errors(list(self.goals.all()))
        if goal_errors:
            raise ValidationError(goal_errors)

    def goal_errors(self, goals):
        """Messages for problems of the declared ``goals`` (as submitted)."""
        from .goals import Goal

        names = [goal.name for goal in goals]
        errors = []
        if len(set(names)) != len(names):
            errors.append(_("Each goal may be declared once."))
        if not self.pk:
            return errors
        if self.started_at:
            errors.extend(self._planned_goal_errors(goals))
        stored = dict(Goal.objects.filter(experiment_id=self.pk).values_list("name", "pk"))
        if self.primary_goal in stored and self.primary_goal not in names:
            errors.append(
                _("The primary goal “%(goal)s” cannot be removed: choose another primary "
                  "goal first.") % {"goal": self.primary_goal}
            )
        # Rows are saved one by one: a name another remaining goal held until now would
        # clash with it on the way (swapping two names, say).
        remaining = {goal.pk for goal in goals if goal.pk}
        errors.extend(
            _("“%(goal)s” was another goal's name until now: rename that goal and save, "
              "then give this one its name.") % {"goal": goal.name}
            for goal in goals
            if stored.get(goal.name, goal.pk) != goal.pk and stored[goal.name] in remaining
        )
        return errors

    # Decisions ----------------------------------------------------------------------------

    # What the test was planned with: fixed once the experiment starts, or results could be
    # steered after the fact (a looser alpha, a later look, another rule, a sequence tuned
    # to the data seen).
    PLANNED_SETTINGS = (
        "primary_goal", "goal_page", "method", "alpha", "baseline_rate",
        "minimum_detectable_effect", "power", "sequential_tuning", "minimum_conversions",
        "minimum_days", "decision_rule", "chance_to_win", "max_expected_loss",
    )
    # Of each declared goal: what decides whether a variant harms it.
    PLANNED_GOAL_SETTINGS = ("role", "direction", "value_cap")
    PLANNED_MESSAGE = _("Fixed when the experiment started: its test was planned with it, and "
                        "changing it now would change what its data says. Start a new "
                        "experiment to test with other settings.")

    def _planned_setting_errors(self):
        columns = {name: self._meta.get_field(name).attname for name in self.PLANNED_SETTINGS}
        stored = Experiment.objects.filter(pk=self.pk).values(*columns.values()).first()
        if stored is None:
            return {}
        return {
            name: self.PLANNED_MESSAGE
            for name, column in columns.items()
            if stored[column] is not None and getattr(self, column) != stored[column]
        }

    def _planned_goal_errors(self, goals):
        """Once started, a declared goal keeps its role, direction and cap, and a guardrail
        stays: dropping or softening one after seeing the data would steer the verdict."""
        from .goals import Goal

        stored = {
            row["pk"]: row for row in Goal.objects.filter(experiment_id=self.pk).values(
                "pk", "name", *self.PLANNED_GOAL_SETTINGS)
        }
        errors = []
        for goal in goals:
            before = stored.pop(goal.pk, None) if goal.pk else None
            if before and any(getattr(goal, name) != before[name]
                              for name in self.PLANNED_GOAL_SETTINGS):
                errors.append(_("Goal “%(goal)s”: its role, direction and cap per visitor "
                                "are fixed once the experiment has started.") % {
                    "goal": before["name"]})
        errors.extend(
            _("The guardrail “%(goal)s” cannot be removed once the experiment has "
              "started.") % {"goal": row["name"]}
            for row in stored.values() if row["role"] == Goal.Role.GUARDRAIL
        )
        # A guardrail declared after seeing the data could block the winner it names.
        errors.extend(
            _("Goal “%(goal)s”: a goal declared once the experiment has started can only be "
              "secondary; a new guardrail could steer the verdict.") % {"goal": goal.name}
            for goal in goals if not goal.pk and goal.role == Goal.Role.GUARDRAIL
        )
        return errors

    def freeze_sequential_tuning(self):
        """Keep the tuning the sequential test starts with: an always-valid sequence must
        not be retuned once data comes in (the planned figure moves with the settings)."""
        if not self.sequential_tuning:
            self.sequential_tuning = self.effective_sequential_tuning()

    def primary_goal_higher_is_better(self):
        goal = next((g for g in self.goals.all() if g.name == self.primary_goal), None)
        return goal is None or goal.higher_is_better

    def decision_rule_settings(self):
        """The ``verdicts.DecisionRule`` of this experiment's settings."""
        return DecisionRule(
            alpha=float(self.alpha),
            method=self.method,
            # At least one, also for a 0 stored before the field refused it.
            minimum_conversions=max(1, self.minimum_conversions),
            minimum_days=self.minimum_days,
            bayesian=self.decision_rule == self.DecisionRuleChoice.BAYESIAN,
            chance_to_win=float(self.chance_to_win) / 100,
            max_expected_loss=float(self.max_expected_loss) / 100,
            higher_is_better=self.primary_goal_higher_is_better(),
        )

    def planned_sample(self, method=None, arms=None):
        """Visitors needed per variant for ``method`` (default: the experiment's), from
        the expected baseline, MDE, alpha, power and number of arms; None when the
        settings cannot be planned (a lift past 100 %)."""
        arms = arms or max(len(self.variants.all()), 2)
        try:
            return stats.sample_size(
                *self._planning_inputs(), method=method or self.method, variants=arms,
                sequential_tuning=self.effective_sequential_tuning(arms),
            )
        except ValueError:
            return None

    def effective_sequential_tuning(self, arms=None):
        """The tuning of the sequential test: the field, else the planned visitors of one
        comparison (control and one variant)."""
        if self.sequential_tuning:
            return self.sequential_tuning
        arms = arms or max(len(self.variants.all()), 2)
        try:
            return stats.planned_sequential_tuning(*self._planning_inputs(), variants=arms)
        except ValueError:
            return stats.DEFAULT_SEQUENTIAL_TUNING

    def _planning_inputs(self):
        mde = float(self.minimum_detectable_effect) / 100
        return (
            float(self.baseline_rate) / 100,
            mde if self.primary_goal_higher_is_better() else -mde,
            float(self.alpha),
            float(self.power) / 100,
        )

    def notification_addresses(self):
        """Who hears about this experiment: its creator and its ``notify_emails``."""
        addresses = email_list(self.notify_emails)
        if self.created_by_id and self.created_by.email:
            addresses.insert(0, self.created_by.email)
        return list(dict.fromkeys(addresses))

    def goal_rules(self):
        """{name: GoalRule} of the declared goals: what the event store accepts."""
        return {goal.name: goal.rule() for goal in self.goals.all()}

    def _started_variant_errors(self, variants):
        """Once started, variants carry data and visitors' sticky keys: none may go away
        or change key (complete the experiment and start a new one instead)."""
        if not self.pk or not self.started_at:
            return []
        stored = dict(Variant.objects.filter(experiment_id=self.pk).values_list("pk", "key"))
        submitted = {variant.pk: variant.key for variant in variants if variant.pk}
        errors = []
        if set(stored) - set(submitted):
            errors.append(_("Variants of a started experiment cannot be removed."))
        if any(stored.get(pk, key) != key for pk, key in submitted.items()):
            errors.append(_("Variant keys cannot change once the experiment has started."))
        return errors

    def variant_errors(self, variants):
        """Messages for every structural problem of ``variants`` (any status). Rules that
        only matter for serving (published pages, weights adding up) wait for
        ``check_can_run``, so a draft can be prepared around draft pages."""
        errors = []
        if len(variants) < 2:
            errors.append(_("An experiment needs at least two variants: a control and one more."))
        controls = [variant for variant in variants if variant.is_control]
        if len(controls) != 1:
            errors.append(_("Exactly one variant must be the control."))
        elif self.control_page_id and controls[0].page_id != self.control_page_id:
            errors.append(_("The control variant must show the control page (the URL under test)."))
        keys = [variant.key for variant in variants]
        if len(set(keys)) != len(keys):
            errors.append(_("Variant keys must be unique within the experiment."))
        page_ids = [variant.page_id for variant in variants]
        if self.control_page_id is None:
            if any(page_ids):
                errors.append(_(
                    "Variants with pages need the control page (the URL under test). For a "
                    "code-level experiment, leave every variant's page empty."
                ))
        elif None in page_ids:
            errors.extend(
                _("Variant “%(key)s” has no page: choose one.") % {"key": variant.key}
                for variant in variants if variant.page_id is None
            )
        elif len(set(page_ids)) != len(page_ids):
            errors.append(_("Each variant must show a different page."))
        if any(variant.weight is None or variant.weight <= 0 for variant in variants):
            errors.append(_("Variant weights must be positive."))
        if any(not isinstance(variant.payload, dict) for variant in variants):
            errors.append(_("A variant's payload must be a JSON object, e.g. {\"new_ui\": true}."))
        pages = [variant.page for variant in variants if variant.page_id]
        if len({getattr(page.get_site(), "pk", None) for page in pages}) > 1:
            errors.append(_("All variant pages must belong to the same site."))
        return errors

    def check_can_run(self, variants=None):
        """Raise ``ValidationError`` unless the experiment may start serving now."""
        variants = list(self.variants.all()) if variants is None else variants
        errors = self.variant_errors(variants)
        if self.primary_goal not in self.goal_rules():
            errors.append(
                _("Declare the primary goal “%(goal)s” among the goals: an undeclared goal "
                  "is not recorded.") % {"goal": self.primary_goal}
            )
        if self.serves_pages and self.control_page_id is None:
            errors.append(_("The control page was deleted: choose the page whose URL is under "
                            "test (the control page), and a page for each variant."))
        if self.control_page_id and not self.control_page.live:
            errors.append(
                _("Publish the control page “%(title)s” before running: its URL is the one "
                  "under test.") % {"title": self.control_page.title}
            )
        total = sum((variant.weight or 0 for variant in variants), Decimal("0"))
        # Within a hundredth per variant: an even three-way split is 33.33 x 3 = 99.99
        # (bucketing uses the weights' shares, so the rounding changes nothing).
        if abs(total - HUNDRED) > WEIGHT_ROUNDING * max(len(variants), 1):
            errors.append(
                _("Variant weights must add up to 100 %% to run (they add up to %(total)s %%).")
                % {"total": format(total.normalize(), "f")}
            )
        if self.ends_at and self.ends_at <= timezone.now():
            errors.append(_("The end date has passed."))
        clash = (
            Experiment.objects.routable()
            .filter(control_page_id=self.control_page_id)
            .exclude(serve_winner=True)
            .exclude(pk=self.pk)
            .first()
        )
        if self.control_page_id and clash:
            errors.append(
                _("“%(other)s” is already running on this page; only one experiment may run "
                  "per control page.") % {"other": clash.name}
            )
        if errors:
            raise ValidationError(errors)

    def check_user_may_serve(self, user):
        """Raise ``ValidationError`` unless ``user`` may put the variants' content at the
        control URL: starting, resuming and promoting do that past the pages' own editing
        path, so they need what publishing those pages needs. That is the publish permission
        on the control page and on every variant page, and a control page that is neither
        locked against the user nor in a workflow."""
        if self.control_page_id is None:
            if self.is_code_level:
                return  # serves no page
            raise ValidationError(_("The control page was deleted: choose the page whose URL "
                                    "is under test (the control page) first."))
        # Named by role: a variant copy has the control's title.
        roles = [(_("the control page “%(title)s”") % {"title": self.control_page.title},
                  self.control_page)]
        roles += [
            (_("variant “%(key)s”'s page “%(title)s”") % {"key": v.key, "title": v.page.title},
             v.page)
            for v in self.ordered_variants()
            if v.page_id and v.page_id != self.control_page_id
        ]
        errors = [
            _("You need permission to publish %(page)s to do this.") % {"page": role}
            for role, page in roles
            if not page.permissions_for_user(user).can_publish()
        ]
        lock = self.control_page.get_lock()
        if lock is not None and lock.for_user(user):
            errors.append(
                _("The control page “%(title)s” is locked: %(reason)s")
                % {"title": self.control_page.title, "reason": lock.get_message(user)}
            )
        # For a variant, its latest revision is what gets pinned: content awaiting
        # moderation must not reach visitors past its workflow.
        errors.extend(
            _("%(page)s is in a workflow: finish or cancel it first.")
            % {"page": capfirst(role)}
            for role, page in roles
            if page.workflow_in_progress
        )
        if errors:
            raise ValidationError(errors)

    # Lifecycle --------------------------------------------------------------------------

    def _require_status(self, action, *allowed):
        if self.status not in allowed:
            raise ValidationError(
                _("Cannot %(action)s an experiment that is %(status)s.")
                % {"action": action, "status": self.get_status_display().lower()}
            )

    def start(self, user=None):
        """Start now, or schedule for ``starts_at`` when that lies in the future. With a
        ``user`` (an editor's action, not code or the scheduler), they must be allowed to
        publish the pages (``check_user_may_serve``)."""
        self._require_status(_("start"), self.Status.DRAFT, self.Status.SCHEDULED)
        self._begin_serving(user)
        self.hash_seed = self.hash_seed or self.slug
        self.save()
        scheduled = self.status == self.Status.SCHEDULED
        self.log("wagtail_experiments.schedule" if scheduled else "wagtail_experiments.start", user)

    def _begin_serving(self, user):
        """Running now, or scheduled when ``starts_at`` lies ahead; checks first."""
        self.check_can_run()
        if user is not None:
            self.check_user_may_serve(user)
        if self.control_page_id:
            self.serves_pages = True
        if self.started_at is None and self.status == self.Status.DRAFT:
            # A first start: what each variant page holds now is what visitors get.
            for variant in self.pinnable_variants():
                variant.pin(user)
        else:
            self.pin_missing_content(user)
        now = timezone.now()
        if self.starts_at and self.starts_at > now:
            self.status = self.Status.SCHEDULED
        else:
            self.status = self.Status.RUNNING
            self.started_at = self.started_at or now
            self.freeze_sequential_tuning()

    def pinnable_variants(self):
        """The variants whose content is a pinned revision: every one with a page but the
        control, which Wagtail serves live at its own URL."""
        return [v for v in self.ordered_variants() if v.page_id and not v.is_control]

    def pin_missing_content(self, user=None):
        """Pin the variants not pinned yet, or pinned to a page they no longer show.
        Returns their keys."""
        pinned = [v for v in self.pinnable_variants() if not v.is_pinned]
        for variant in pinned:
            variant.pin(user)
        return [variant.key for variant in pinned]

    def update_variant_content(self, user=None):
        """Serve each variant page's latest saved content from now on (the "Update variant
        content" action): what editors changed since the start reaches visitors only
        through this, logged. Needs what starting needs (``check_user_may_serve``)."""
        self._require_status(_("update the variant content of"), *self.SERVING_STATUSES)
        if user is not None:
            self.check_user_may_serve(user)
        changed = {}
        for variant in self.pinnable_variants():
            before = variant.revision_id if variant.is_pinned else None
            variant.pin(user)
            if variant.revision_id != before:
                changed[variant.key] = variant.revision_id
        self.log("wagtail_experiments.update_content", user, variants=changed)
        return changed

    def pause(self, user=None):
        """Stop bucketing; visitors see the control and nothing is counted until resumed."""
        self._require_status(_("pause"), self.Status.RUNNING)
        self.status = self.Status.PAUSED
        self.paused_at = timezone.now()
        self.save()
        self.log("wagtail_experiments.pause", user)

    def pause_because(self, reason):
        """Stop serving an experiment whose pages changed under it (``reason`` says how),
        whether it was running, scheduled or already paused. Returns whether it did."""
        if self.status not in self.SERVING_STATUSES:
            return False
        if reason in self.pause_reason:
            return False  # the same change, reported again
        if self.status != self.Status.PAUSED:
            self.paused_at = timezone.now()
        self.status = self.Status.PAUSED
        self.pause_reason = f"{self.pause_reason} {reason}".strip()[:1000]
        self.save()
        self.log("wagtail_experiments.pause", None, reason=reason)
        return True

    def served_pages(self):
        """The control page and each variant's page, to tell whether an edit changed what
        visitors are served."""
        return (self.control_page_id, frozenset(self.variants.values_list("key", "page_id")))

    def log(self, action, user=None, **data):
        """Record a lifecycle step in the experiment's history (its admin *History*), and
        purge the shared caches' copies of its URL when the step changes what it serves."""
        log(instance=self, action=action, user=user, data=data)
        purge_after(action, self)

    def resume(self, user=None):
        """Serve variants again with the same seed, so every visitor keeps their variant
        (an experiment paused before its start date is scheduled again). A ``user`` must be
        allowed to publish the pages, as for ``start``."""
        self._require_status(_("resume"), self.Status.PAUSED)
        self._begin_serving(user)
        self.pause_reason = ""
        self.save()
        self.log("wagtail_experiments.resume", user)

    def complete(self, winner=None, user=None):
        """Stop the experiment for good, optionally recording the winning variant."""
        self._require_status(
            _("complete"), self.Status.RUNNING, self.Status.PAUSED, self.Status.SCHEDULED
        )
        if winner is not None and winner.experiment_id != self.pk:
            raise ValidationError(_("The winner must be one of this experiment's variants."))
        self.status = self.Status.COMPLETED
        self.winner = winner
        self.completed_at = timezone.now()
        self.pause_reason = ""  # the final state says what visitors get now
        self.save()
        self.log("wagtail_experiments.complete", user,
                 winner=winner.key if winner is not None else None)

    def archive(self, user=None):
        """Hide a finished experiment from everyday lists; its data stays."""
        self._require_status(_("archive"), self.Status.COMPLETED, self.Status.DRAFT)
        self.status = self.Status.ARCHIVED
        self.serve_winner = False
        self.save()
        self.log("wagtail_experiments.archive", user)

    def promote_winner(self, mode, user=None):
        """Make the winner what everyone sees at the control URL.

        ``"serve"`` keeps serving the winner page there (the experiment stays completed, no
        one is bucketed or counted); ``"publish"`` copies the winner's content onto the
        control page as a new published revision (same page type only), and serving
        returns to plain Wagtail.
        """
        self._require_status(_("promote the winner of"), self.Status.COMPLETED)
        if self.winner is None or (self.winner.page is None and not self.is_code_level):
            raise ValidationError(_("Complete the experiment with a winner first."))
        if mode == "publish" and self.is_code_level:
            raise ValidationError(
                _("A code-level experiment has no page to publish; serve the winner instead.")
            )
        if user is not None:
            self.check_user_may_serve(user)
        if mode == "serve":
            # Served from its pinned revision: pinned now if it never was (an experiment
            # completed before pinning existed).
            winner = self.winner
            if not (self.is_code_level or winner.is_control or winner.is_pinned):
                winner.pin(user)
            self.serve_winner = True
        elif mode == "publish":
            self._publish_winner_on_control_page(user)
            self.serve_winner = False
        else:
            raise ValidationError(_("Unknown way to promote the winner: %(mode)s") % {"mode": mode})
        self.promotion_mode = mode
        self.promoted_at = timezone.now()
        self.save()
        self.log("wagtail_experiments.promote", user, mode=mode, winner=self.winner.key)

    def _publish_winner_on_control_page(self, user):
        control = self.control_page.specific if self.control_page else None
        # What visitors were served and the numbers measured: the pinned revision.
        winner = self.winner.revision.as_object() if self.winner.is_pinned else (
            self.winner.page.specific
        )
        if control is None:
            raise ValidationError(_("The control page no longer exists."))
        if control.pk == winner.pk:
            return  # the control won: nothing to copy
        if type(control) is not type(winner):
            raise ValidationError(
                _("The winner is a different page type; serve it instead of publishing it.")
            )
        # The user's permissions were checked by promote_winner; code and scripts (no user)
        # still never publish over a lock or a workflow.
        if control.locked or control.workflow_in_progress:
            raise ValidationError(
                _("The control page is locked or in a workflow; publish the winner there "
                  "once it is free, or serve the winner instead.")
            )
        content = winner.serializable_data()
        # Inline children (and tags) are copied, not moved: without their ids, publishing
        # creates new rows under the control page and leaves the winner's own alone.
        for relation in get_all_child_relations(control):
            for child in content.get(relation.get_accessor_name(), []):
                child["pk"] = None
                child[relation.field.name] = control.pk
        # The control keeps its identity (URL, titles); set before with_content_json, which
        # derives the URL path from the content's slug.
        for name in ("title", "draft_title", "slug", "seo_title", "search_description"):
            content[name] = getattr(control, name)
        promoted = control.with_content_json(content)
        promoted.save_revision(user=user, log_action=True).publish(user=user)

    def apply_schedule(self, moment=None):
        """Bring the status in line with the dates: a due scheduled experiment starts, one
        past its end completes. Returns the new status when it changed, else None."""
        moment = moment or timezone.now()
        if self.status == self.Status.SCHEDULED and self.starts_at and self.starts_at <= moment:
            if self.ends_at and self.ends_at <= moment:
                self.complete()
            else:
                self.status = self.Status.RUNNING
                self.started_at = self.started_at or self.starts_at
                self.freeze_sequential_tuning()
                self.save()
                self.log("wagtail_experiments.start")
            return self.status
        live = (self.Status.RUNNING, self.Status.PAUSED)
        if self.status in live and self.ends_at and self.ends_at <= moment:
            self.complete()
            return self.status
        return None

    def can_promote(self):
        """Whether promoting the winner is still a step to take: there is a winner, not yet
        promoted, or served to everyone but not yet published onto its page."""
        if not self.winner_id:
            return False
        return not self.promotion_mode or (
            self.promotion_mode == "serve" and not self.is_code_level)

    def lifecycle_actions(self):
        """The lifecycle actions open to the experiment in its current status."""
        pinning = ["update_content"] if self.control_page_id else []  # a page experiment
        return {
            self.Status.DRAFT: ["start", "archive"],
            self.Status.SCHEDULED: ["complete", *pinning],
            self.Status.RUNNING: ["pause", "complete", *pinning],
            self.Status.PAUSED: ["resume", "complete", *pinning],
            self.Status.COMPLETED: ["promote", "archive"] if self.can_promote() else ["archive"],
            self.Status.ARCHIVED: [],
        }[self.status]

    @admin.display(description=_("Status"), ordering="status")
    def status_summary(self):
        """The status, and what matters about it: why a page change paused it, or how a
        finished experiment ended."""
        if self.pause_reason and self.status == self.Status.PAUSED:
            detail = self.pause_reason
        elif self.status == self.Status.COMPLETED:
            detail = self.outcome_summary()
        else:
            return self.get_status_display()
        return _("%(status)s: %(detail)s") % {"status": self.get_status_display(),
                                               "detail": detail}

    def outcome_summary(self):
        """How a completed experiment ended, in a sentence."""
        if self.winner is None:
            return _("no winner")
        summary = _("winner %(key)s") % {"key": self.winner.key}
        if self.promotion_mode == "serve" and self.serve_winner:
            summary = _("%(summary)s, served to every visitor since %(date)s") % {
                "summary": summary, "date": date_format(localtime(self.promoted_at))}
        elif self.promotion_mode == "publish":
            summary = _("%(summary)s, published onto the control page on %(date)s") % {
                "summary": summary, "date": date_format(localtime(self.promoted_at))}
        return summary

    @admin.display(description=_("Visitors"), ordering="visitor_count")
    def visitors(self):
        """Unique exposed visitors; the admin listing annotates them as ``visitor_count``."""
        return getattr(self, "visitor_count", None) or 0

    @admin.display(description=_("Days running"))
    def days_running(self):
        if not self.started_at:
            return 0
        end = self.completed_at or timezone.now()
        return max((end - self.started_at).days, 0)

    def is_live_at(self, moment):
        """Whether the router should serve variants at ``moment`` (schedule-aware)."""
        if self.status == self.Status.SCHEDULED:
            if not self.starts_at or self.starts_at > moment:
                return False
        elif self.status != self.Status.RUNNING:
            return False
        return self.ends_at is None or moment < self.ends_at

    def ordered_variants(self):
        """Variants in GrowthBook variation order: the control first, then by sort order."""
        return sorted(self.variants.all(), key=lambda v: (not v.is_control, v.sort_order or 0))


class Variant(Orderable):
    """One arm of an experiment: a page shown to a share (``weight``) of visitors."""

    experiment = ParentalKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(
        _("key"),
        max_length=32,
        help_text=_("Short name, unique in the experiment, e.g. “control” or “b”."),
    )
    label = models.CharField(_("label"), max_length=255, blank=True)
    page = models.ForeignKey(
        PAGE_MODEL,
        verbose_name=_("page"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Empty for the variants of a code-level experiment."),
    )
    weight = models.DecimalField(
        _("weight (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("50"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(HUNDRED)],
    )
    is_control = models.BooleanField(_("control"), default=False)
    revision = models.ForeignKey(
        "wagtailcore.Revision",
        verbose_name=_("pinned revision"),
        null=True,
        blank=True,
        editable=False,
        on_delete=keep_pinned_revision,
        related_name="+",
        help_text=_("The content of the variant's page that visitors are served: its latest "
                    "revision when the experiment started, or when an editor last updated "
                    "the variant content."),
    )
    payload = models.JSONField(
        _("payload"),
        default=dict,
        blank=True,
        help_text=_("Optional JSON object handed to code with the assignment, e.g. "
                    "{\"new_ui\": true}, so a variant can switch features on. Public: anyone "
                    "can read it in the experiments API, so never put secrets here."),
    )

    panels = [
        FieldRowPanel([FieldPanel("key"), FieldPanel("label")]),
        FieldPanel("page"),
        FieldRowPanel([FieldPanel("weight"), FieldPanel("is_control")]),
        # For code-level experiments and headless front ends; a page experiment rarely
        # needs it, so it stays folded away until opened.
        MultiFieldPanel([FieldPanel("payload")], heading=_("Payload for code (optional)"),
                        classname="collapsed"),
    ]

    class Meta(Orderable.Meta):
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="wexp_variant_key_unique"),
        ]

    def __str__(self):
        return self.label or self.key

    @property
    def is_pinned(self):
        """Whether visitors are served a revision of this variant's current page. (The
        control is never pinned: Wagtail serves its live content at its own URL.)"""
        return (
            self.revision_id is not None
            and self.page_id is not None
            and self.revision.object_id == str(self.page_id)
        )

    @property
    def has_newer_content(self):
        """Whether the page was saved since its content was pinned."""
        return self.is_pinned and self.page.latest_revision_id != self.revision_id

    def pin(self, user=None):
        """Pin the page's latest revision (saved draft or published) as the variant's
        content. A page never saved as a revision (made in code) gets one first."""
        page = self.page.specific
        revision = page.get_latest_revision()
        if revision is None:
            revision = page.save_revision(user=user, changed=False, clean=False)
        self.revision = revision
        if self.pk is not None:
            self.save(update_fields=["revision"])
        # else: an in-memory child of the experiment, stored when the experiment is saved.


class UTMAttribution(models.Model):
    """The ``utm_*`` parameters of the visitor's landing URL (first touch)."""

    utm_source = models.CharField(_("UTM source"), max_length=100, blank=True)
    utm_medium = models.CharField(_("UTM medium"), max_length=100, blank=True)
    utm_campaign = models.CharField(_("UTM campaign"), max_length=100, blank=True)
    utm_term = models.CharField(_("UTM term"), max_length=100, blank=True)
    utm_content = models.CharField(_("UTM content"), max_length=100, blank=True)

    class Meta:
        abstract = True

    def utm(self):
        return {
            name: getattr(self, name)
            for name in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
        }


class Exposure(UTMAttribution):
    """A visitor's first view of an experiment, in the variant they were served."""

    # No index of its own: both composite indexes below start with it.
    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="exposures", db_index=False
    )
    # RESTRICT: a variant with data goes only together with its experiment.
    variant = models.ForeignKey(Variant, on_delete=models.RESTRICT, related_name="exposures")
    visitor_id = models.CharField(_("visitor id"), max_length=64)
    created_at = models.DateTimeField(_("exposed at"), default=timezone.now)

    class Meta:
        verbose_name = _("exposure")
        verbose_name_plural = _("exposures")
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "visitor_id"], name="wexp_exposure_once_per_visitor"
            ),
        ]
        indexes = [models.Index(fields=["experiment", "variant"], name="wexp_exposure_variant")]

    def __str__(self):
        return f"{self.visitor_id} → {self.variant}"


class ExperimentNotification(models.Model):
    """One notification sent about an experiment: each event is told once."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE,
                                   related_name="notifications")
    # What happened, e.g. "verdict:winner:b", "verdict:srm", "schedule:ended".
    event = models.CharField(max_length=100)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("experiment notification")
        verbose_name_plural = _("experiment notifications")
        constraints = [
            models.UniqueConstraint(fields=["experiment", "event"],
                                    name="wexp_notification_once"),
        ]

    def __str__(self):
        return f"{self.event} ({self.experiment_id})"
