"""Request counters for rate limits, for caches that cannot count atomically."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RateCounter(models.Model):
    """Requests of one client (or one lead form's e-mails) in one fixed time window.

    Used when the Django cache cannot increment atomically (file-based, database): an
    upsert in the database counts every concurrent request exactly once. Rows of past
    windows are deleted now and then.
    """

    key = models.CharField(_("key"), max_length=80)
    window = models.BigIntegerField(_("window"))
    count = models.PositiveIntegerField(_("count"), default=0)
    expires_at = models.BigIntegerField(_("expires at (Unix time)"), db_index=True)

    class Meta:
        verbose_name = _("rate counter")
        verbose_name_plural = _("rate counters")
        constraints = [
            models.UniqueConstraint(fields=["key", "window"], name="wexp_rate_counter_unique"),
        ]

    def __str__(self):
        return f"{self.key}@{self.window}: {self.count}"
