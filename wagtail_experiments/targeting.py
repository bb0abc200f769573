"""Who may enter an experiment: rules on the entry URL's UTM, the device and the locale.

Pure (no Django): the same rules are published in the config endpoint, and the JS client's
``matchesTargeting`` applies them identically at the edge. A visitor outside the rules sees
the control and is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

DEVICES = ("desktop", "mobile", "tablet")
_USER_AGENT_CACHE_SIZE = 4096
_MAX_USER_AGENT_LENGTH = 1024


def _normalise(value):
    return (value or "").strip().lower()


def _normalise_locale(value):
    return _normalise(value).replace("_", "-")


def split_list(text):
    """``"google, Bing ,"`` → ``("google", "bing")``: how editors type a rule's values."""
    return tuple(dict.fromkeys(part for part in map(_normalise, (text or "").split(",")) if part))


@dataclass(frozen=True)
class Targeting:
    """Each non-empty tuple restricts; an empty one admits everybody."""

    utm_source: tuple[str, ...] = ()
    utm_medium: tuple[str, ...] = ()
    utm_campaign: tuple[str, ...] = ()
    device: tuple[str, ...] = ()
    locale: tuple[str, ...] = ()

    @property
    def is_open(self):
        return not any(getattr(self, rule.name) for rule in fields(self))

    def matches(self, context):
        """Whether a visitor's ``context`` (``TargetingContext``) passes every rule."""
        for name in ("utm_source", "utm_medium", "utm_campaign", "device"):
            allowed = getattr(self, name)
            if allowed and _normalise(getattr(context, name)) not in allowed:
                return False
        if self.locale:
            locale = _normalise_locale(context.locale)
            if not locale or not any(
                locale == code or locale.startswith(code + "-") for code in self.locale
            ):
                return False
        return True

    def as_config(self):
        """The rules as published to edge workers and the JS client."""
        return {rule.name: list(getattr(self, rule.name)) for rule in fields(self)}


@dataclass(frozen=True)
class TargetingContext:
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    device: str = ""
    locale: str = ""


@lru_cache(maxsize=_USER_AGENT_CACHE_SIZE)
def device_class(user_agent):
    """``"mobile"``, ``"tablet"`` or ``"desktop"``, as the ``user-agents`` library reads the
    user agent. Parsing costs ~1 ms, so repeats (real traffic has few distinct agents) come
    from a bounded cache."""
    from user_agents import parse

    parsed = parse(user_agent[:_MAX_USER_AGENT_LENGTH])
    if parsed.is_tablet:
        return "tablet"
    if parsed.is_mobile:
        return "mobile"
    return "desktop"
