# Leads live in their own subpackage; importing them here registers them with the app.
from ..leads.models import Lead, LeadForm, LeadFormField
from .events import DailyRollup, Event, GoalCompletion
from .experiments import Experiment, ExperimentQuerySet, Exposure, UTMAttribution, Variant
from .throttling import RateCounter

__all__ = [
    "DailyRollup",
    "Event",
    "Experiment",
    "ExperimentQuerySet",
    "Exposure",
    "GoalCompletion",
    "Lead",
    "LeadForm",
    "LeadFormField",
    "RateCounter",
    "UTMAttribution",
    "Variant",
]
