"""The goals an experiment counts. Only declared goals are recorded: an event naming any
other goal is rejected with a reason, so a scripted client cannot invent goals, and cannot
send values a goal does not take."""

from dataclasses import dataclass
from decimal import Decimal

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalKey
from wagtail.admin.panels import FieldPanel, FieldRowPanel
from wagtail.models import Orderable

# The largest value one event of a revenue goal may carry when its goal sets no bound.
DEFAULT_REVENUE_MAX_VALUE = Decimal("10000")
GOAL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
# For every field naming a goal: an experiment's goals, its primary goal, a lead form's.
validate_goal_name = RegexValidator(
    GOAL_NAME_PATTERN,
    _("Letters, digits and “_ . : -”, starting with a letter or digit."),
)


@dataclass(frozen=True)
class GoalRule:
    """What the event store checks of an event naming a goal (kept in the route table)."""

    name: str
    kind: str
    max_value: float | None

    def refusal(self, event, *, from_server):
        """Why ``event`` may not count for this goal, or None when it may."""
        if self.kind == Goal.Kind.SERVER and not from_server:
            return (f"Goal {self.name!r} is recorded by the server only (lead forms, goal "
                    f"pages); it cannot be sent.")
        if not event.value:
            return None  # no value, or 0: adds nothing to any sum
        if self.max_value is None:
            return (f"Goal {self.name!r} takes no value; the experiment would have to declare "
                    f"it as a revenue goal or give it a maximum value.")
        if not 0 <= event.value <= self.max_value:
            return f"Goal {self.name!r} takes a value from 0 to {_amount(self.max_value)}."
        return None


def _amount(number):
    """12345.5 as "12,345.5", 5000.0 as "5,000"."""
    return f"{number:,.2f}".rstrip("0").rstrip(".")


class Goal(Orderable):
    """A goal an experiment counts conversions of, and what its events may carry."""

    class Kind(models.TextChoices):
        EVENT = "event", _("Event (tracker or API)")
        REVENUE = "revenue", _("Revenue (events carry an amount)")
        SERVER = "server", _("Server only (lead forms, goal page)")

    class Role(models.TextChoices):
        SECONDARY = "secondary", _("Secondary: shown, corrected for multiple comparisons")
        GUARDRAIL = "guardrail", _("Guardrail: a variant that harms it cannot win")

    class Direction(models.TextChoices):
        INCREASE = "increase", _("Higher is better")
        DECREASE = "decrease", _("Lower is better")

    experiment = ParentalKey(
        "wagtail_experiments.Experiment", on_delete=models.CASCADE, related_name="goals"
    )
    name = models.CharField(
        _("name"),
        max_length=64,
        validators=[validate_goal_name],
        help_text=_("E.g. “signup”."),
    )
    kind = models.CharField(
        _("recorded from"),
        max_length=16,
        choices=Kind.choices,
        default=Kind.EVENT,
    )
    max_value = models.DecimalField(
        _("maximum value"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("Empty: none for event goals, %(default)s for revenue goals.")
        % {"default": f"{DEFAULT_REVENUE_MAX_VALUE:,}"},
    )

    value_cap = models.DecimalField(
        _("cap per visitor"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("Revenue goals: a visitor's total counts up to this amount in the "
                    "revenue-per-visitor test, so one huge order cannot decide it."),
    )
    role = models.CharField(
        _("role"),
        max_length=16,
        choices=Role.choices,
        default=Role.SECONDARY,
        help_text=_("Ignored for the primary goal, which decides the experiment."),
    )
    direction = models.CharField(
        _("direction"), max_length=16, choices=Direction.choices, default=Direction.INCREASE
    )

    panels = [
        FieldRowPanel([FieldPanel("name"), FieldPanel("kind")]),
        FieldRowPanel([FieldPanel("role"), FieldPanel("direction")]),
        FieldRowPanel([FieldPanel("max_value"), FieldPanel("value_cap")]),
    ]

    class Meta(Orderable.Meta):
        verbose_name = _("goal")
        verbose_name_plural = _("goals")
        constraints = [
            models.UniqueConstraint(fields=["experiment", "name"], name="wexp_goal_name_unique"),
        ]

    def __str__(self):
        return self.name

    @property
    def higher_is_better(self):
        return self.direction != self.Direction.DECREASE

    def rule(self):
        """The route table's copy of this goal."""
        bound = self.max_value
        if bound is None and self.kind == self.Kind.REVENUE:
            bound = DEFAULT_REVENUE_MAX_VALUE
        return GoalRule(self.name, self.kind, None if bound is None else float(bound))
