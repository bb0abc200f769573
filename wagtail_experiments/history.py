"""How an experiment's lifecycle steps read in its admin *History* (Wagtail log entries)."""

from django.utils.translation import gettext_lazy as _
from wagtail.log_actions import LogFormatter


class PausedFormatter(LogFormatter):
    label = _("Pause experiment")

    def format_message(self, log_entry):
        reason = (log_entry.data or {}).get("reason")
        if reason:
            return _("Paused: %(reason)s") % {"reason": reason}
        return _("Paused")


class CompletedFormatter(LogFormatter):
    label = _("Complete experiment")

    def format_message(self, log_entry):
        winner = (log_entry.data or {}).get("winner")
        if winner:
            return _("Completed; winner: %(winner)s") % {"winner": winner}
        return _("Completed without a winner")


class PromotedFormatter(LogFormatter):
    label = _("Promote winner")

    def format_message(self, log_entry):
        data = log_entry.data or {}
        if data.get("mode") == "publish":
            return _("Winner %(winner)s published onto the control page") % data
        return _("Winner %(winner)s served to every visitor") % data


class ContentUpdatedFormatter(LogFormatter):
    label = _("Update variant content")

    def format_message(self, log_entry):
        variants = (log_entry.data or {}).get("variants") or {}
        if not variants:
            return _("Variant content checked: unchanged")
        return _("Variants %(keys)s now served from their latest revisions") % {
            "keys": ", ".join(sorted(variants))
        }


def register_log_actions(actions):
    """``register_log_actions`` hook."""
    actions.register_action("wagtail_experiments.start", _("Start experiment"), _("Started"))
    actions.register_action(
        "wagtail_experiments.schedule", _("Schedule experiment"), _("Scheduled to start")
    )
    actions.register_action("wagtail_experiments.resume", _("Resume experiment"), _("Resumed"))
    actions.register_action("wagtail_experiments.archive", _("Archive experiment"), _("Archived"))
    actions.register_action("wagtail_experiments.pause")(PausedFormatter)
    actions.register_action("wagtail_experiments.complete")(CompletedFormatter)
    actions.register_action("wagtail_experiments.promote")(PromotedFormatter)
    actions.register_action("wagtail_experiments.update_content")(ContentUpdatedFormatter)
