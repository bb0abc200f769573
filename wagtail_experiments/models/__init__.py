# Leads live in their own subpackage; importing them here registers them with the app.
from ..leads.models import Lead, LeadForm, LeadFormField
from .events import DailyRollup, Event, GoalCompletion
from .experiments import (
    Experiment,
    ExperimentNotification,
    ExperimentQuerySet,
    Exposure,
    UTMAttribution,
    Variant,
)
from .goals import Goal, GoalRule
from .throttling import RateCounter

__all__ = [
    "DailyRollup",
    "Event",
    "Experiment",
    "ExperimentNotification",
    "ExperimentQuerySet",
    "Exposure",
    "Goal",
    "GoalCompletion",
    "GoalRule",
    "Lead",
    "LeadForm",
    "LeadFormField",
    "RateCounter",
    "UTMAttribution",
    "Variant",
]
