"""What the tests through a real cache (Varnish, a Cloudflare Worker under Miniflare) share:
a loopback port, a browser-like visitor with its own cookies, the variant a response shows,
and the origin's settings in shared-cache mode."""

import http.client
import socket
import time
from http.cookies import SimpleCookie

from django.test.utils import override_settings

from .conftest import BROWSER_UA


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, process, seconds=30):
    """Until something listens on the port; fails with the process's errors if it died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            assert process.poll() is None, process.stderr.read().decode()
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


class Visitor:
    """A browser with its own cookies, talking to the cache."""

    def __init__(self, port, host):
        self.port, self.host, self.cookies = port, host, {}

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = {"Host": self.host, "User-Agent": BROWSER_UA, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        content = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        connection.close()
        return response, content

    def get(self, path):
        return self.request("GET", path)


def variant_of(response):
    header = response.headers.get("X-Experiment-Variant")
    return header.split("=", 1)[1] if header else None


def shared_cache_settings(purge_location):
    """The origin in shared-cache mode, purging through Wagtail's HTTP frontend-cache backend."""
    return override_settings(
        WAGTAIL_EXPERIMENTS={"SHARED_CACHE": True, "API_RATE_LIMIT": None},
        WAGTAILFRONTENDCACHE={"cache": {
            "BACKEND": "wagtail.contrib.frontend_cache.backends.HTTPBackend",
            "LOCATION": purge_location,
        }},
    )
