"""Requests that must see the control and never count: bots, speculative loads, and
visitors who have not consented or ask not to be tracked."""

import threading
from functools import lru_cache

from crawlerdetect import CrawlerDetect
from django.utils.module_loading import import_string

from .conf import get_setting

# Parsing a user agent with crawlerdetect costs ~0.2 ms; real traffic repeats a few
# thousand distinct strings, so a bounded LRU makes the repeat cost a dict lookup.
_USER_AGENT_CACHE_SIZE = 4096
_MAX_USER_AGENT_LENGTH = 1024

_detector = CrawlerDetect()
# CrawlerDetect keeps per-call state on the instance.
_detector_lock = threading.Lock()


@lru_cache(maxsize=_USER_AGENT_CACHE_SIZE)
def is_bot_user_agent(user_agent):
    """True for crawlers, and for clients that send no user agent at all."""
    if not user_agent:
        return True
    with _detector_lock:
        return bool(_detector.isCrawler(user_agent))


def is_bot(request):
    user_agent = request.headers.get("User-Agent", "")[:_MAX_USER_AGENT_LENGTH]
    return is_bot_user_agent(user_agent)


def is_prefetch(request):
    """Speculative loads (link prefetch, speculation rules, prerender) are not visits."""
    purpose = request.headers.get("Sec-Purpose") or request.headers.get("Purpose") or ""
    if "prefetch" in purpose.lower():
        return True
    return request.headers.get("X-Moz", "").lower() == "prefetch"


def may_track(request):
    """Whether privacy settings let this visitor be bucketed, cookied and counted."""
    if get_setting("HONOUR_DO_NOT_TRACK") and (
        request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1"
    ):
        return False
    if not get_setting("REQUIRE_CONSENT"):
        return True
    check = get_setting("CONSENT_CHECK")
    if check:
        return bool(_callable(check)(request))
    value = request.COOKIES.get(get_setting("CONSENT_COOKIE"))
    expected = get_setting("CONSENT_COOKIE_VALUE")
    return value is not None and (expected is None or value == expected)


@lru_cache(maxsize=8)
def _callable(dotted_path):
    return import_string(dotted_path)
