"""Benchmarks of the experiment serving path, run with ``make bench`` (``python -m benchmarks``).

Every figure is printed on stdout as a ``name=value`` line; progress goes to stderr.

- ``serve_ratio``: requests/s of ``/landing/`` for returning, bucketed visitors divided by
  requests/s of the same page with no running experiment, through gunicorn on PostgreSQL:
  the median of interleaved rounds (goal ≥ 0.95). ``serve_rps_experiment`` and
  ``serve_rps_baseline`` are the two medians, ``serve_ratio_min``/``_max`` the spread.
- ``serve_cpu_ratio``: the same comparison in gunicorn workers' CPU time per request, which
  other processes disturb less; ``serve_disturbed_rounds`` counts rounds in which other
  processes took a noticeable share of the machine (Linux only, like these two figures).
- ``returning_visitor_queries``: database queries the experiment adds for a returning
  visitor (goal 0).

The run uses its own PostgreSQL database (created and dropped on the server named by
``DATABASE_URL``) and its own temporary ``SANDBOX_VAR_DIR``, so it never touches other data.
``WEXP_BENCH_ROUNDS`` and ``WEXP_BENCH_ROUND_SECONDS`` change the number and length of rounds.
"""
