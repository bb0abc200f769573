"""A/B/n experiments of Wagtail landing pages: bucketing, serving, tracking and results."""

__version__ = "0.2.0"
