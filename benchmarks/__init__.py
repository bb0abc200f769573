"""Benchmarks of serving, event ingestion and results, run with ``make bench``
(``python -m benchmarks``).

Every figure is printed on stdout as a ``name=value`` line, each phase's as soon as it ends;
progress goes to stderr. ``goal_*_met=yes|no`` lines compare a figure with its goal.

Phase ``serve`` (gunicorn, 2 sync workers):

- ``serve_ratio``: requests/s of ``/landing/`` for returning, bucketed visitors divided by
  requests/s of the same page with no running experiment, through gunicorn on PostgreSQL:
  the median of interleaved rounds (goal ≥ 0.95). ``serve_rps_experiment`` and
  ``serve_rps_baseline`` are the two medians, ``serve_ratio_min``/``_max`` the spread.
- ``serve_cpu_ratio``: the same comparison in gunicorn workers' CPU time per request, which
  other processes disturb less; ``serve_disturbed_rounds`` counts rounds in which other
  processes took a noticeable share of the machine (Linux only, like these two figures).
- ``returning_visitor_queries``: database queries the experiment adds for a returning
  visitor (goal 0).

Phase ``cache`` (``benchmarks.cache``; needs Debian's ``varnish``):

- ``new_visitor_serve_ratio``: requests/s of ``/landing/`` for new visitors (no cookies:
  each one bucketed, its exposure written) ÷ the same page with no running experiment for
  visitors without cookies, through gunicorn, median of interleaved rounds (goal ≥ 0.90),
  with the default immediate exposure writes; ``new_visitor_serve_ratio_buffered`` the same
  with ``EXPOSURE_WRITES = "buffered"``, and ``new_visitor_exposures_lost{,_buffered}`` the
  bucketed new visitors missing from the database once gunicorn has stopped (goal 0).
- ``cached_serve_ratio``: returning visitors' requests/s of ``/landing/`` through Varnish
  (the shipped VCL, the origin in shared-cache mode) ÷ the same page without a running
  experiment through the same Varnish (goal ≥ 0.9; both are cache hits), and
  ``cache_hit_share``, the share of hits among the experiment rounds' responses after a
  warm-up round (goal ≥ 0.95). The load generator is this Python process, so both sides
  of ``cached_serve_ratio`` are bounded by it, not by Varnish.

Phase ``events`` (``POST /_experiments/api/events`` through gunicorn, configuration in
``events_gunicorn``, ``<worker class>-<workers>x<threads>``), for visitors first exposed on
``/landing/`` and posting with their own cookies; every response must be 202 with every
event accepted, and the stored events must number ``events_accepted`` in the end:

- ``events_per_s``: click events stored per second by 8 concurrent clients posting batches
  of 100 (goal ≥ 2000); ``events_accepted`` counts every event posted, warm-up included.
- ``single_event_capacity_ratio``: requests/s of one-event posts (``single_event_rps``,
  20 clients posting as fast as they are answered) ÷ requests/s of a database-free endpoint
  of the same API, ``GET /_experiments/api/experiments`` (``config_rps``: the public
  config, from the in-process route table), under the same load on the same workers, in
  five interleaved rounds, median (goal ≥ 0.5; ``_min``/``_max``: the rounds' spread).
  ``bare_view_rps``, for scale, is a view that only parses the body (``benchmarks.urls``).
  On PostgreSQL one event is one query string (``wagtail_experiments.single_event``).
- ``single_event_p99_ms_half_load`` (and ``_p50_``): latency of one-event posts sent on a
  fixed schedule at half the measured ``single_event_rps`` by 20 clients for 12 s (first
  2 s not counted), from each request's scheduled moment to its answer, so waiting behind
  a slow request counts (goal p99 < 25). At saturation latency is only queueing (20 ÷
  the requests/s), which is why the old saturated p99 is no longer a goal. Stderr shows
  the CPU time per request of the gunicorn workers, PostgreSQL and the load generator.

Phase ``results`` (in-process), last because it loads 10 million rows:

- ``results_ms``: median wall time of ``wagtail_experiments.results.experiment_results``
  (what the results screen renders) over 5 runs after a warm-up, for a paused experiment
  ``results-bench`` (the demo's pages, variants control/b/c) holding ``results_events``
  events (10 million) of 1 million exposed visitors over 30 days, with their first goal
  completions and daily rollups, 1 % of the events funnel steps (goal < 300).
  ``results_ms_min``/``_max`` give the spread. The rows are generated in SQL in about two
  minutes (``benchmarks.dataset``); their tables stay unlogged (see ``benchmarks.bulk``).

The run uses its own PostgreSQL database (created and dropped on the server named by
``DATABASE_URL``), its own temporary ``SANDBOX_VAR_DIR``, and the settings
``benchmarks.settings`` (the sandbox's, without the events API's rate limit), so it never
touches other data. Environment variables:

- ``WEXP_BENCH_ONLY``: comma-separated phases to run, e.g. ``serve,events`` (default: all
  of ``serve``, ``cache``, ``events``, ``results``).
- ``WEXP_BENCH_ROUNDS`` and ``WEXP_BENCH_ROUND_SECONDS`` change the number and length of
  the serve rounds (``WEXP_BENCH_CACHE_ROUNDS``, default 6, those of the cache phase).
- ``WEXP_BENCH_EVENTS_GUNICORN`` tries another gunicorn configuration for the events phase,
  e.g. ``sync-4x1`` or ``gthread-2x4`` (default ``sync-3x1``, see ``benchmarks.run``).
"""
