"""Experiments behind real caches in front of the test server, in shared-cache mode: Debian's
varnishd with the VCL shipped in docs/caching/, and the Cloudflare Worker shipped there run
under Miniflare (Cloudflare's workerd). One cached copy per variant, never one per visitor,
never one for all; exposures counted once; purges on lifecycle steps; lead forms on cached
pages."""

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from wagtail_experiments.models import Exposure, Lead

from .behind_a_cache import Visitor, free_port, shared_cache_settings, variant_of, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
VCL = ROOT / "docs" / "caching" / "varnish.vcl"
WORKER = ROOT / "docs" / "caching" / "cloudflare-worker.js"
MINIFLARE = ROOT / "tests" / "cache_worker"
VISITORS = 200


def run_varnish(live_server):
    """varnishd on a loopback port, in front of the live server, with the shipped VCL."""
    varnishd = shutil.which("varnishd") or shutil.which("varnishd", path="/usr/sbin")
    assert varnishd, "Debian's varnish package is needed (.ci/run installs it)"
    origin = urlsplit(live_server.url)
    workdir = Path(tempfile.mkdtemp(prefix="wexp-varnish-"))
    workdir.chmod(0o755)  # varnishd reads the VCL as its own unprivileged user
    vcl = workdir / "site.vcl"
    vcl.write_text(VCL.read_text().replace('.port = "8000";', f'.port = "{origin.port}";'))
    port = free_port()
    process = subprocess.Popen(
        [varnishd, "-F", "-f", str(vcl), "-a", f"127.0.0.1:{port}", "-n", str(workdir / "n"),
         "-s", "malloc,64m", "-T", "none"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    wait_for_port(port, process)
    yield port
    process.terminate()
    process.wait(10)
    shutil.rmtree(workdir, ignore_errors=True)


def run_cloudflare_worker(live_server):
    """The shipped Worker under Miniflare on a loopback port, the live server as its origin."""
    node = shutil.which("node")
    assert node, "Node.js 18+ is needed to run the Worker under Miniflare"
    assert (MINIFLARE / "node_modules" / "miniflare").is_dir(), (
        "Miniflare is not installed: `make test` runs `npm ci --prefix tests/cache_worker`"
    )
    process = subprocess.Popen(
        [node, str(MINIFLARE / "run-worker.mjs"), str(WORKER), live_server.url, "127.0.0.1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline()
    assert line.startswith("http://"), process.stderr.read()
    port = urlsplit(line.strip()).port
    wait_for_port(port, process)
    yield port
    process.stdin.close()  # run-worker.mjs disposes of Miniflare and exits
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module", params=["varnish", "cloudflare-worker"])
def cache(request, live_server):
    """The port of a real cache in front of the live server."""
    run = {"varnish": run_varnish, "cloudflare-worker": run_cloudflare_worker}[request.param]
    yield from run(live_server)


@pytest.fixture
def site(transactional_db, cache):
    from sandbox_site.home.demo import load_demo_content

    with shared_cache_settings(f"http://127.0.0.1:{cache}"):
        experiment = load_demo_content()
        yield experiment, urlsplit(experiment.control_page.full_url).netloc


def test_each_visitor_keeps_their_variant_from_one_cached_copy_per_variant(site, cache):
    experiment, host = site
    visitors = [Visitor(cache, host) for _ in range(VISITORS)]
    first = {}
    for visitor in visitors:
        response, content = visitor.get("/landing/")
        assert response.status == 200 and response.headers["X-Cache"] == "MISS"
        first[visitor] = (variant_of(response), content)
    bodies, statuses = {}, []
    for _ in range(2):
        for visitor in visitors:
            response, content = visitor.get("/landing/")
            variant, _ = first[visitor]
            assert variant_of(response) == variant  # never another visitor's variant
            assert "Set-Cookie" not in response.headers
            statuses.append(response.headers["X-Cache"])
            bodies.setdefault(variant, set()).add(content)
    served = {variant for variant, _ in first.values()}
    assert served >= {"control", "b"}
    # One copy per variant: every returning view of a variant got the same bytes.
    assert all(len(copies) == 1 for copies in bodies.values())
    # Only the first returning view of each variant reached the origin.
    assert statuses.count("MISS") == len(served)
    assert statuses.count("HIT") == 2 * VISITORS - len(served)
    # Every visitor in the experiment counted once, though most views never reached it.
    in_experiment = sum(1 for variant, _ in first.values() if variant is not None)
    assert Exposure.objects.filter(experiment=experiment).count() == in_experiment


def test_a_page_without_an_experiment_is_cached_once_for_everybody(site, cache):
    experiment, host = site
    experiment.pause()  # /landing/ is now a page without a running experiment
    time.sleep(0.2)
    statuses = []
    for index in range(20):
        visitor = Visitor(cache, host)
        if index % 2:
            visitor.get("/")  # some visitors carry experiment cookies (home-banner)
        response, content = visitor.get("/landing/")
        statuses.append(response.headers["X-Cache"])
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")
        assert variant_of(response) is None
        # The tracker tag names nobody's experiments on a shared page.
        assert '"experiments": null' in content
    assert statuses.count("MISS") == 1


def test_pausing_purges_every_variant_within_a_second(site, cache):
    experiment, host = site
    visitors = [Visitor(cache, host) for _ in range(30)]
    for visitor in visitors:
        visitor.get("/landing/")
        response, _ = visitor.get("/landing/")
    assert {variant_of(visitor.get("/landing/")[0]) for visitor in visitors} >= {"b"}
    experiment.pause()
    started = time.monotonic()
    for visitor in visitors:
        response, _ = visitor.get("/landing/")
        assert variant_of(response) is None
        assert "Set-Cookie" not in response.headers
    assert time.monotonic() - started < 1


def test_a_lead_form_on_a_cached_variant_page_is_stored_for_its_variant(site, cache):
    experiment, host = site
    visitor = Visitor(cache, host)
    visitor.get("/landing/")
    response, content = visitor.get("/landing/")
    response, content = visitor.get("/landing/")
    assert response.headers["X-Cache"] == "HIT"
    variant = variant_of(response)
    # The cached copy has no visitor's token: the form fetches one, as lead_form.js does.
    assert "csrfmiddlewaretoken" not in content
    token_url = re.search(r'data-wexp-token-url="([^"]+)"', content).group(1)
    reply, body = visitor.get(token_url)
    assert "no-store" in reply.headers["Cache-Control"] and "csrftoken" in visitor.cookies
    token = re.search(r'"token": "([^"]+)"', body).group(1)
    form = (f"csrfmiddlewaretoken={token}&wexp_lead_form=demo-lead&name=Ada"
            "&email=ada%40example.com")
    reply, _ = visitor.request(
        "POST", "/landing/", form,
        {"Content-Type": "application/x-www-form-urlencoded",
         "Referer": f"http://{host}/landing/"},
    )
    assert reply.status == 302
    lead = Lead.objects.get()
    exposure = Exposure.objects.get(experiment=experiment, visitor_id=lead.visitor_id)
    assert exposure.variant.key == variant
