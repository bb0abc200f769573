"""A/B/n experiments of Wagtail landing pages: bucketing, serving, tracking and results."""

__version__ = "0.1.0"
