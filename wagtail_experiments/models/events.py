"""What visitors did after exposure: raw events, first goal completions, daily rollups."""

from django.conf import settings
from django.contrib import admin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .experiments import Experiment, UTMAttribution, Variant


class Event(UTMAttribution):
    """One tracked interaction, stored as received; never updated (append-only)."""

    class Type(models.TextChoices):
        IMPRESSION = "impression", _("Impression")
        CLICK = "click", _("Click")
        CONVERSION = "conversion", _("Conversion")
        CUSTOM = "custom", _("Custom")

    # No index of its own: the composite indexes below start with it, and each index is
    # one more to update on every insert (the commonest write there is).
    experiment = models.ForeignKey(
        Experiment, verbose_name=_("experiment"), on_delete=models.CASCADE,
        related_name="events", db_index=False,
    )
    # Derived by the server from the visitor's exposure, never taken from the client.
    # RESTRICT: a variant with data goes only together with its experiment.
    variant = models.ForeignKey(
        Variant, verbose_name=_("variant"), on_delete=models.RESTRICT, related_name="events"
    )
    visitor_id = models.CharField(_("visitor id"), max_length=64)
    event_id = models.CharField(
        _("event id"), max_length=64, help_text=_("Client-generated; a replay is stored once.")
    )
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    goal = models.CharField(_("goal"), max_length=64, blank=True)
    step = models.PositiveIntegerField(_("funnel step"), null=True, blank=True)
    value = models.FloatField(_("value"), null=True, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    url = models.CharField(_("URL"), max_length=2000, blank=True)
    block_id = models.CharField(_("block id"), max_length=64, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "visitor_id", "event_id"], name="wexp_event_idempotent"
            ),
        ]
        indexes = [
            models.Index(fields=["experiment", "goal", "type"], name="wexp_event_goal"),
            models.Index(fields=["experiment", "created_at"], name="wexp_event_time"),
            models.Index(fields=["visitor_id"], name="wexp_event_visitor"),
            # Funnels read only step events, a small share of all events; covering (on
            # PostgreSQL; SQLite ignores INCLUDE) so the funnel never reads the big table.
            models.Index(
                fields=["experiment", "goal", "variant", "step", "visitor_id"],
                include=["metadata"],
                condition=models.Q(step__isnull=False),
                name="wexp_event_steps",
            ),
        ]

    @classmethod
    def _check_indexes(cls, databases):
        # Django warns (models.W040) that a database without covering indexes (SQLite,
        # MySQL/MariaDB, Oracle) cannot store the funnel index's INCLUDE column; it then
        # builds the index without it, which is all the funnel needs there. Keep the warning
        # out of those sites' `migrate` and `check` output; PostgreSQL gets the covering index.
        return [
            message for message in super()._check_indexes(databases)
            if message.id != "models.W040"
        ]

    def __str__(self):
        return f"{self.type} {self.goal} ({self.experiment_id})"

    @admin.display(description=_("Experiment"))
    def experiment_slug(self):
        return self.experiment.slug

    @admin.display(description=_("Variant"))
    def variant_key(self):
        return self.variant.key


class GoalCompletion(models.Model):
    """A visitor's first event for a goal in an experiment: a conversion, counted once."""

    # No index of its own: the unique constraint's index starts with it.
    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    variant = models.ForeignKey(Variant, on_delete=models.RESTRICT, related_name="+")
    goal = models.CharField(max_length=64)
    visitor_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    # The visitor's running total of the goal's event values: revenue per visitor.
    value_total = models.FloatField(default=0)

    class Meta:
        verbose_name = _("goal completion")
        verbose_name_plural = _("goal completions")
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "goal", "visitor_id"], name="wexp_goal_once_per_visitor"
            ),
        ]
        indexes = [models.Index(fields=["visitor_id"], name="wexp_completion_visitor")]

    def __str__(self):
        return f"{self.goal} ({self.experiment_id})"


class DailyRollup(models.Model):
    """Counters per experiment, variant, goal, day and UTM source, kept by upserts so
    results never scan raw rows. The goal ``""`` counts exposures."""

    EXPOSURES = ""

    # No index of its own: the unique constraint's index starts with it.
    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    variant = models.ForeignKey(Variant, on_delete=models.RESTRICT, related_name="+")
    goal = models.CharField(max_length=64, blank=True)
    day = models.DateField()
    utm_source = models.CharField(max_length=100, blank=True)
    # First-time visitors that day: exposed visitors, or visitors completing the goal.
    visitors = models.BigIntegerField(default=0)
    events = models.BigIntegerField(default=0)
    value_sum = models.FloatField(default=0)
    # What the day's values added to the sum of the squares of visitors' totals: adding v
    # to a total x adds 2xv + v². Summed over days, it is the sum of squared totals that
    # the revenue-per-visitor test needs.
    value_sq_sum = models.FloatField(default=0)

    class Meta:
        verbose_name = _("daily rollup")
        verbose_name_plural = _("daily rollups")
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "variant", "goal", "day", "utm_source"],
                name="wexp_rollup_key",
            ),
        ]

    def __str__(self):
        return f"{self.experiment_id}/{self.variant_id}/{self.goal or 'exposures'}/{self.day}"

    @staticmethod
    def day_of(moment=None):
        """The day ``moment`` (default: now) is rolled up under, in the site's time zone
        (``TIME_ZONE``), never in one a request activated (Wagtail's admin activates each
        user's): results compare these days with today, and must agree whoever looks."""
        return timezone.localdate(moment or timezone.now(), timezone.get_default_timezone())
