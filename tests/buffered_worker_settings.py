"""A worker process of ``test_buffered_exposures``: the test project on the live test
database, exposures buffered, and a thread that waits an hour (only the exit writes)."""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import TEST_SERVER_KEY

DATABASES = {"default": json.loads(os.environ["WEXP_WORKER_DB"])}
WAGTAIL_EXPERIMENTS = {
    "SERVER_KEYS": [TEST_SERVER_KEY],
    "EXPOSURE_WRITES": "buffered",
    "EXPOSURE_FLUSH_SECONDS": 3600,
}
