"""Install the built wheel into a brand-new Wagtail site, the way the README says.

A fresh virtualenv gets the site's own Wagtail and Django first (``WEXP_SITE_WAGTAIL``,
``WEXP_SITE_DJANGO``: e.g. 7.4 and 6.0, a site on the LTS), then ``wagtail start`` makes a
project from Wagtail's own template, the wheel is installed (not editable), the README's
"Installing into an existing Wagtail site" steps are applied to the generated files, and the
site is served by ``runserver`` and requested like a browser.

Slow (a virtualenv and a Wagtail install from the package index): run by
``make test-matrix`` (nox sessions ``site_install``), skipped by a plain ``pytest``.
"""

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import BROWSER_UA

SITE_WAGTAIL = os.environ.get("WEXP_SITE_WAGTAIL")
SITE_DJANGO = os.environ.get("WEXP_SITE_DJANGO")
REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()

pytestmark = pytest.mark.skipif(
    not (SITE_WAGTAIL and SITE_DJANGO),
    reason="installs into a new Wagtail site: set WEXP_SITE_WAGTAIL and WEXP_SITE_DJANGO "
    "(make test-matrix does)",
)

# The README's steps, word for word: each snippet below must stand in the README's install
# section, so this test applies what a site developer would copy.
INSTALLED_APP = '"wagtail_experiments",'
MIDDLEWARE = '"wagtail_experiments.middleware.ExperimentMiddleware",'
URL_PATTERN = 'path("_experiments/", include("wagtail_experiments.urls")),'
TRACKER = "{% load wagtail_experiments %}{% experiment_tracker %}"
CACHES = """CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379",
    }
}"""
CACHE_PACKAGE = "pip install redis"

EXPERIMENT_IN_CODE = """
from home.models import HomePage
from wagtail_experiments.models import Experiment, Variant

landing = HomePage.objects.get()
# A site's home page has no parent inside the site: its copy goes beneath it.
landing_b = landing.copy(to=landing, update_attrs={"slug": "home-b"})
experiment = Experiment(name="Hero test", slug="hero-test", control_page=landing)
experiment.variants = [
    Variant(key="control", page=landing, weight=50, is_control=True),
    Variant(key="b", page=landing_b, weight=50),
]
experiment.full_clean()
experiment.save()
experiment.start()
print("started", experiment.status)
"""


def install_section():
    start = README.index("## Installing into an existing Wagtail site")
    return README[start : README.index("\n## ", start + 1)]


# The new site is a world of its own: none of this test run's settings, paths or database.
SITE_ENV = {
    name: value for name, value in os.environ.items()
    if name not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV"}
}


def run(command, **kwargs):
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=600,
        env=SITE_ENV, **kwargs,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def versions(python):
    script = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({n: m.version(n) for n in ('wagtail', 'Django')}))"
    )
    return json.loads(run([python, "-c", script]))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def insert_after(path, anchor, text):
    source = path.read_text()
    assert anchor in source, f"{anchor!r} not in {path}"
    path.write_text(source.replace(anchor, anchor + text, 1))


def apply_readme_steps(project):
    """What the README tells a site developer to change, applied to ``wagtail start``'s
    files. The generated project already lists ``wagtail.contrib.forms``: not added twice."""
    section = install_section()
    for snippet in (INSTALLED_APP, MIDDLEWARE, URL_PATTERN, TRACKER, CACHES, CACHE_PACKAGE):
        assert snippet in section, f"the README's install section lost {snippet!r}"
    settings = project / "mysite" / "settings" / "base.py"
    assert '"wagtail.contrib.forms",' in settings.read_text()
    insert_after(settings, "INSTALLED_APPS = [\n", f"    {INSTALLED_APP}\n")
    insert_after(
        settings, '"wagtail.contrib.redirects.middleware.RedirectMiddleware",\n',
        f"    {MIDDLEWARE}\n",
    )
    settings.write_text(
        settings.read_text() + "\n" + CACHES.replace("6379", "6379/7") + "\n"
        # Its own key space on the machine's Redis, beside other tests' keys.
        + 'CACHES["default"]["KEY_PREFIX"] = "wexp-site-install"\n'
    )
    insert_after(project / "mysite" / "urls.py", "urlpatterns = urlpatterns + [\n",
                 f"    {URL_PATTERN}\n")
    base = project / "mysite" / "templates" / "base.html"
    source = base.read_text()
    base.write_text(source.replace("</body>", f"{TRACKER}\n</body>", 1))


class Visitor:
    """A browser: a user agent and a cookie jar."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path):
        request = urllib.request.Request(self.base_url + path, headers={"User-Agent": BROWSER_UA})
        with self.opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()


@pytest.fixture
def site(tmp_path):
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, REPO])
    (wheel,) = dist.glob("wagtail_landing_experiments-*.whl")

    venv = tmp_path / "site-venv"
    run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet",
         f"wagtail~={SITE_WAGTAIL}.0", f"Django~={SITE_DJANGO}.0"])
    before = versions(python)

    project = tmp_path / "mysite"
    project.mkdir()
    run([venv / "bin" / "wagtail", "start", "mysite", project])
    # The README's install command, from a built wheel until the package is on an index.
    run([python, "-m", "pip", "install", "--quiet", wheel, "redis"])
    after = versions(python)
    run([python, "-m", "pip", "check"])

    apply_readme_steps(project)
    migrate = run([python, "manage.py", "migrate", "--noinput"], cwd=project)
    started = run([python, "manage.py", "shell", "-c", EXPERIMENT_IN_CODE], cwd=project)

    port = free_port()
    server = subprocess.Popen(
        [python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=project, env=SITE_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield {"base_url": base_url, "before": before, "after": after, "migrate": migrate,
               "started": started, "wheel": wheel}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_wheel_installs_into_a_new_wagtail_site_and_buckets_its_visitors(site):
    # pip left the site's Wagtail and Django alone.
    assert site["after"] == site["before"]
    assert site["before"]["wagtail"].startswith(f"{SITE_WAGTAIL}.")
    assert site["before"]["Django"].startswith(f"{SITE_DJANGO}.")
    assert "W040" not in site["migrate"]
    assert "started running" in site["started"]

    seen = {}
    for _ in range(24):
        visitor = Visitor(site["base_url"])
        status, headers, html = visitor.get("/")
        assert status == 200
        match = re.fullmatch(r"hero-test=(control|b)", headers["X-Experiment-Variant"] or "")
        assert match, headers
        key = match.group(1)
        assert "wagtail_experiments/tracker.js" in html
        # Sticky: the same browser keeps its variant.
        for _ in range(2):
            _, again, _ = visitor.get("/")
            assert again["X-Experiment-Variant"] == f"hero-test={key}"
        seen[key] = seen.get(key, 0) + 1
    # 24 visitors at 50/50: both variants served (all on one side: p = 2 * 0.5^24).
    assert set(seen) == {"control", "b"}, seen
