"""Bucketing must be bit-identical to GrowthBook's SDK (hashing v1 and v2)."""

import random
import string

import pytest
from growthbook import Experiment as GBExperiment
from growthbook import GrowthBook
from growthbook.core import fnv1a32 as gb_fnv1a32
from growthbook.core import gbhash

from wagtail_experiments import assignment

WEIGHT_AND_COVERAGE_SETS = [
    ([50, 50], 1.0),
    ([34, 33, 33], 1.0),
    ([10, 20, 70], 1.0),
    ([25, 25, 25, 25], 0.5),
    ([90, 10], 0.05),
    ([33.33, 33.33, 33.34], 0.8),
    ([1, 99], 0.999),
]


def random_visitor_ids(count, seed=1234):
    rng = random.Random(seed)
    return [assignment.new_visitor_id() for _ in range(count // 2)] + [
        "".join(rng.choices(string.printable, k=rng.randint(0, 40))) for _ in range(count // 2)
    ]


def growthbook_variation(visitor_id, seed, weights, coverage, hash_version):
    total = sum(weights)
    experiment = GBExperiment(
        key=seed,
        variations=list(range(len(weights))),
        weights=[w / total for w in weights],
        coverage=coverage,
        hashVersion=hash_version,
    )
    result = GrowthBook(attributes={"id": visitor_id}).run(experiment)
    return result.variationId if result.inExperiment else assignment.NOT_IN_EXPERIMENT


@pytest.mark.parametrize(("weights", "coverage"), WEIGHT_AND_COVERAGE_SETS)
def test_assignment_matches_growthbook_sdk_v2(weights, coverage):
    visitor_ids = [vid for vid in random_visitor_ids(10_000) if vid]
    mismatches = [
        vid
        for vid in visitor_ids
        if assignment.assign(vid, "landing-hero", weights, coverage, 2)
        != growthbook_variation(vid, "landing-hero", weights, coverage, 2)
    ]
    assert mismatches == []


def test_assignment_matches_growthbook_sdk_v1():
    for vid in random_visitor_ids(4_000, seed=7):
        if vid:
            assert assignment.assign(vid, "seed-1", [50, 50], 0.7, 1) == growthbook_variation(
                vid, "seed-1", [50, 50], 0.7, 1
            )


def test_hash_matches_growthbook_for_non_ascii_text():
    for text in ["é", "日本語", "emoji 😀 surrogate", "mixed-Ünïcode-\u2028", ""]:
        assert assignment.fnv1a32(text) == gb_fnv1a32(text)
        assert assignment.hash_to_unit("seed-ß", text, 2) == gbhash("seed-ß", text, 2)


def test_known_vector():
    # FNV-1a 32 reference values.
    assert assignment.fnv1a32("") == 0x811C9DC5
    assert assignment.fnv1a32("a") == 0xE40C292C
    assert assignment.fnv1a32("foobar") == 0xBF9CF968


def test_distribution_follows_weights():
    ids = [assignment.new_visitor_id() for _ in range(20_000)]
    counts = [0, 0, 0]
    for vid in ids:
        counts[assignment.assign(vid, "dist", [50, 30, 20])] += 1
    assert [round(c / len(ids), 2) for c in counts] == pytest.approx([0.5, 0.3, 0.2], abs=0.02)


def test_raising_coverage_keeps_everyone_who_was_in():
    ids = [assignment.new_visitor_id() for _ in range(5_000)]
    before = {vid: assignment.assign(vid, "cov", [50, 50], 0.3) for vid in ids}
    after = {vid: assignment.assign(vid, "cov", [50, 50], 0.9) for vid in ids}
    moved = [vid for vid, index in before.items() if index != -1 and after[vid] != index]
    assert moved == []
    assert sum(1 for i in before.values() if i == -1) > sum(1 for i in after.values() if i == -1)


def test_zero_coverage_excludes_everyone():
    assert all(
        assignment.assign(vid, "none", [50, 50], 0.0) == -1 for vid in random_visitor_ids(200)
    )


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("V1StGXR8_Z5jdHi6B-myT", True),
        ("V1StGXR8_Z5jdHi6B-my", False),  # 20 characters
        ("V1StGXR8_Z5jdHi6B-myTT", False),  # 22 characters
        ("V1StGXR8_Z5jdHi6B-my!", False),
        ("V1StGXR8_Z5jdHi6B-my\x00", False),
        ("", False),
        (None, False),
        ("x" * 5000, False),
    ],
)
def test_visitor_id_validation(value, valid):
    assert assignment.is_valid_visitor_id(value) is valid


def test_new_visitor_ids_are_valid_and_distinct():
    ids = {assignment.new_visitor_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(assignment.is_valid_visitor_id(vid) for vid in ids)


def test_assignment_module_does_not_import_django():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(assignment))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported.isdisjoint({"django", "wagtail"})
