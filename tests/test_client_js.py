"""The JS client (static/wagtail_experiments/client.js) must bucket exactly like Python.

Fixtures come from ``wagtail_experiments.assignment``; ``node --test tests/js/`` checks
``bucket()`` against every one of them, plus the client's own unit tests.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

from wagtail_experiments.assignment import (
    NOT_IN_EXPERIMENT,
    assign,
    choose_variation,
    hash_to_unit,
    new_visitor_id,
    normalise_weights,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
RANDOM_VISITORS_PER_CONFIG = 1_000
EDGE_SEARCH_BUDGET = 40_000
NON_ASCII_VISITOR_IDS = [
    "visiteur-été",
    "訪問者テスト",
    "👋🏽-visitor",
    "e\u0301te\u0301",  # combining accents: two UTF-16 units each
    "lone-\ud83d-surrogate",  # JSON carries it as \ud83d; both sides hash the bare unit
    "",
]

# (seed, raw weights, coverage 0-1, hash version)
CONFIGS = [
    ("landing-hero", [50, 50], 1.0, 2),
    ("landing-hero", [34, 33, 33], 1.0, 2),
    ("pricing-page", [10, 20, 30, 40], 0.5, 2),
    ("café-été", [1, 99], 0.25, 2),
    ("テスト", [70, 10, 10, 10], 1.0, 2),
    ("🎉-launch", [34, 33, 33], 0.0, 2),
    ("thirds", [1, 1, 1], 0.8, 2),
    ("all-zero", [0, 0, 0], 1.0, 2),
    ("seed-1", [50, 50], 1.0, 1),
    ("café-été", [10, 20, 30, 40], 0.5, 1),
    ("テスト", [70, 10, 10, 10], 0.25, 1),
    ("🎉-launch", [1, 99], 1.0, 1),
]
VARIANT_KEYS = ["control", "b", "c", "d"]


def as_given_ranges(weights, coverage):
    """The ranges client.js builds from published weights: used as given, not re-divided.

    ``bucket_ranges(published)`` would normalise them a second time, which moves range
    edges by an ulp when they do not sum to exactly 1.0 ([70, 10, 10, 10] → 0.9999999999999999),
    and a visitor hashed exactly onto such an edge would change variant.
    """
    coverage = min(max(coverage, 0.0), 1.0)
    total = sum(weights)
    if not weights or any(w < 0 for w in weights) or not 0.99 <= total <= 1.01:
        weights = [1 / len(weights)] * len(weights)
    ranges, cumulative = [], 0.0
    for weight in weights:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def edge_visitor_ids(seed, ranges, version):
    """Ids whose hash lands exactly on, or one step beside, a range edge: where float
    differences between implementations would show."""
    steps = 10_000 if version == 2 else 1_000
    edges = {edge for pair in ranges for edge in pair}
    wanted = {
        k + delta
        for edge in edges
        for k in [round(edge * steps)]
        for delta in (-1, 0, 1)
        if 0 <= k + delta < steps
    }
    found = {}
    for i in range(EDGE_SEARCH_BUDGET):
        if len(found) == len(wanted):
            break
        candidate = f"edge-{i}"
        bucket = round(hash_to_unit(seed, candidate, version) * steps)
        if bucket in wanted and bucket not in found:
            found[bucket] = candidate
    return list(found.values())


def build_fixtures():
    cases = []
    for seed, raw_weights, coverage, version in CONFIGS:
        published = normalise_weights(raw_weights)
        ranges = as_given_ranges(published, coverage)
        # Python's assign() divides published weights by their sum once more; only when
        # that is a no-op can it stand in for the server on published weights.
        renormalising_is_exact = normalise_weights(published) == published
        variants = [
            {"key": key, "weight": weight, "page_id": None, "url": None, "payload": {}}
            for key, weight in zip(VARIANT_KEYS, published, strict=False)
        ]
        experiment = {
            "slug": "fixture",
            "hash_seed": seed,
            "hash_version": version,
            "coverage": coverage,
            "site": {"id": 1, "hostname": "localhost", "port": 80},
            "path": None,
            "url": None,
            "variants": variants,
            "targeting": {},
        }
        visitor_ids = [new_visitor_id() for _ in range(RANDOM_VISITORS_PER_CONFIG)]
        visitor_ids += NON_ASCII_VISITOR_IDS + edge_visitor_ids(seed, ranges, version)
        visitors = []
        for visitor_id in visitor_ids:
            index = assign(visitor_id, seed, raw_weights, coverage, version)
            # The published config must be faithful: its weights, used as given, give the
            # server's answer.
            n = hash_to_unit(seed, visitor_id, version)
            assert choose_variation(n, ranges) == index, (visitor_id, seed, raw_weights)
            if renormalising_is_exact:
                assert assign(visitor_id, seed, published, coverage, version) == index
            key = None if index == NOT_IN_EXPERIMENT else variants[index]["key"]
            visitors.append([visitor_id, key])
        cases.append({"experiment": experiment, "visitors": visitors})
    return cases


def test_client_js_buckets_like_python(tmp_path):
    node = shutil.which("node")
    assert node, "Node.js is required to test client.js (`node` is not on PATH); install Node 18+."
    cases = build_fixtures()
    total = sum(len(case["visitors"]) for case in cases)
    assert total >= 10_000
    fixtures = tmp_path / "bucket_fixtures.json"
    fixtures.write_text(json.dumps({"cases": cases}), encoding="utf-8")

    env = {**os.environ, "WEXP_BUCKET_FIXTURES": str(fixtures)}
    result = subprocess.run(
        [node, "--test", "tests/js/"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"node --test failed ({result.returncode}) on {total} fixtures\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
