"""System checks (``manage.py check``, run at startup) of settings whose typo would
otherwise silently mean the default."""

from django.core import checks

from .conf import get_setting

CHOICES = {
    "EXPOSURE_MODE": ("server", "client"),
    "EXPOSURE_WRITES": ("immediate", "buffered"),
}


@checks.register()
def check_settings(app_configs=None, **kwargs):
    problems = []
    for name, choices in CHOICES.items():
        value = get_setting(name)
        if value not in choices:
            problems.append(checks.Error(
                f"WAGTAIL_EXPERIMENTS[{name!r}] is {value!r}.",
                hint=f"Use one of: {', '.join(repr(choice) for choice in choices)}.",
                id="wagtail_experiments.E001",
            ))
    if get_setting("EXPOSURE_WRITES") == "buffered" and get_setting("EXPOSURE_MODE") == "client":
        problems.append(checks.Warning(
            "EXPOSURE_WRITES 'buffered' has no effect with EXPOSURE_MODE 'client'.",
            hint="Client-side exposures are written as the tracker's impression arrives.",
            id="wagtail_experiments.W001",
        ))
    for name in ("EXPOSURE_FLUSH_SECONDS", "EXPOSURE_BUFFER_LIMIT"):
        value = get_setting(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problems.append(checks.Error(
                f"WAGTAIL_EXPERIMENTS[{name!r}] is {value!r}; it must be a positive number.",
                id="wagtail_experiments.E002",
            ))
    return problems
