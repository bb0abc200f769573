"""The sandbox's settings for the benchmarks, in this process and in gunicorn's workers.

Only the events API's rate limit differs: the load generator is one client address sending
far more than any visitor would, so the limit would answer 429 instead of measuring."""

import os

from sandbox_site.settings import *  # noqa: F403
from sandbox_site.settings import WAGTAIL_EXPERIMENTS as SANDBOX_EXPERIMENTS

WAGTAIL_EXPERIMENTS = {**SANDBOX_EXPERIMENTS, "API_RATE_LIMIT": None}

# The sandbox's URLs and the database-free baseline endpoint of the ingestion figures.
ROOT_URLCONF = "benchmarks.urls"

# The cache phase's origin behind Varnish (benchmarks.cache) runs in shared-cache mode.
if os.environ.get("WEXP_BENCH_SHARED_CACHE"):
    WAGTAIL_EXPERIMENTS["SHARED_CACHE"] = True

# The cache phase measures new visitors with each way of writing their first exposure.
if os.environ.get("WEXP_BENCH_EXPOSURE_WRITES"):
    WAGTAIL_EXPERIMENTS["EXPOSURE_WRITES"] = os.environ["WEXP_BENCH_EXPOSURE_WRITES"]
