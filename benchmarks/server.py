"""The sandbox site under gunicorn, on a free port of 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .machine import child_pids

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 30
SHUTDOWN_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class GunicornConfig:
    workers: int
    worker_class: str = "sync"
    threads: int = 1

    def __str__(self):
        threads = f" x {self.threads} threads" if self.threads > 1 else ""
        return f"{self.workers} {self.worker_class} workers{threads}"

    def token(self):
        """``<worker class>-<workers>x<threads>``, e.g. ``sync-2x1``."""
        return f"{self.worker_class}-{self.workers}x{self.threads}"

    @classmethod
    def parse(cls, token):
        worker_class, _, counts = token.partition("-")
        workers, _, threads = counts.partition("x")
        return cls(workers=int(workers), worker_class=worker_class, threads=int(threads or 1))


# Two cores: two sync workers keep both busy without the load generator starving.
SERVE_CONFIG = GunicornConfig(workers=2)


@dataclass(frozen=True)
class RunningServer:
    port: int
    pid: int

    def worker_pids(self):
        return child_pids(self.pid)


@contextlib.contextmanager
def gunicorn_server(environment, config=SERVE_CONFIG):
    """Run ``sandbox_site.wsgi:application`` and yield a ``RunningServer``; always stop it
    afterwards."""
    port = _free_port()
    process = subprocess.Popen(
        _command(port, config),
        cwd=REPO_ROOT,
        env=_server_environment(environment),
        stdout=sys.stderr,
        stderr=sys.stderr,
        # Its own session: a Ctrl-C reaches only us, and the finally block stops it cleanly.
        start_new_session=True,
    )
    try:
        _wait_until_answering(process, port)
        yield RunningServer(port=port, pid=process.pid)
    finally:
        _stop(process)


def _command(port, config):
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "sandbox_site.wsgi:application",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(config.workers),
        "--worker-class",
        config.worker_class,
        "--threads",
        str(config.threads),
        "--log-level",
        "warning",
    ]


def _server_environment(environment):
    env = {**os.environ, **environment}
    # gunicorn imports the WSGI module by name: the repository root must be importable.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _wait_until_answering(process, port):
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode} at startup")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", "/")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on port {port} within {STARTUP_TIMEOUT_SECONDS} s")


def _stop(process):
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        # Its session holds only the master and its workers: end them all.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
