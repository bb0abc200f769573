import pytest
from django.core.cache import cache
from django.test import Client

from wagtail_experiments import routing
from wagtail_experiments.rollup_sources import forget_admitted_sources

CHROMIUM = "/usr/bin/chromium"
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
# Debian's Chromium as this machine's probe runs it: headless, as root, no network chatter.
# The browser-wide user agent is a person's: headless Chromium calls itself HeadlessChrome,
# a bot, and a page context's override does not reach beacons sent while a page unloads.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    f"--user-agent={BROWSER_UA}",
]


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test starts from an empty cache, no in-process route table and no admitted
    UTM sources: data of a rolled-back test must not leak through them."""
    cache.clear()
    routing._state.table = None
    forget_admitted_sources()
    yield
    cache.clear()
    routing._state.table = None
    forget_admitted_sources()


@pytest.fixture
def browser():
    """A test client that looks like a person's browser (no user agent means a bot)."""
    return Client(HTTP_USER_AGENT=BROWSER_UA)


@pytest.fixture
def demo(db):
    """The sandbox's demo content: /landing/ under the running ``landing-hero``."""
    from sandbox_site.home.demo import load_demo_content

    return load_demo_content()


@pytest.fixture(scope="module")
def chromium():
    """Headless Chromium through Playwright (never `playwright install`: Debian's build)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls made between
    # browser steps (and the test database set-up) are still plain synchronous code.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def seeded_stats(demo):
    from tests.helpers import days_ago, seed, started_days_ago

    # Ten days; b clearly better than control, c the same as control; weights 34/33/33.
    started_days_ago(demo, 9)
    for n in range(10):
        seed(demo, "control", days_ago(n), 340, 34)
        seed(demo, "b", days_ago(n), 330, 50)
        seed(demo, "c", days_ago(n), 330, 33)
    return demo
