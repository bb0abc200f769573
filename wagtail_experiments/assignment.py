"""Deterministic, GrowthBook-compatible bucketing.

Pure Python on purpose (no Django): the same functions run in the middleware, in the
headless API and in tests that compare them bit-for-bit with the ``growthbook`` SDK.
Reference: GrowthBook's SDK spec, "hash" version 1 and 2, ``getBucketRanges`` and
``chooseVariation``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nanoid import generate as _nanoid

VISITOR_ID_LENGTH = 21
# nanoid's default alphabet: URL-safe, so the id never needs quoting in a cookie.
_VISITOR_ID_RE = re.compile(rf"[A-Za-z0-9_-]{{{VISITOR_ID_LENGTH}}}")

_FNV_OFFSET_BASIS = 0x811C9DC5
_FNV_PRIME = 0x01000193

NOT_IN_EXPERIMENT = -1


def new_visitor_id() -> str:
    """A fresh random visitor id (nanoid, 21 URL-safe characters, ~126 bits)."""
    return _nanoid(size=VISITOR_ID_LENGTH)


def is_valid_visitor_id(value: object) -> bool:
    """True for an id this module could have issued; anything else gets replaced."""
    return isinstance(value, str) and _VISITOR_ID_RE.fullmatch(value) is not None


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a over UTF-16 code units, as GrowthBook's JS SDK computes it."""
    hval = _FNV_OFFSET_BASIS
    if text.isascii():
        units = text.encode("ascii")
    else:
        raw = text.encode("utf-16-le", "surrogatepass")
        units = [raw[i] | (raw[i + 1] << 8) for i in range(0, len(raw), 2)]
    for unit in units:
        hval = ((hval ^ unit) * _FNV_PRIME) & 0xFFFFFFFF
    return hval


def hash_to_unit(seed: str, value: str, version: int = 2) -> float:
    """Map ``value`` to [0, 1) for ``seed``; version 2 is GrowthBook's default.

    Version 1 is kept because GrowthBook still evaluates it; it has a known bias
    between experiments sharing a seed, which is why new experiments use 2.
    """
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    raise ValueError(f"unsupported hash version {version!r}")


def normalise_weights(weights: Sequence[float]) -> list[float]:
    """Scale positive weights to sum to 1; fall back to equal weights like GrowthBook."""
    count = len(weights)
    total = float(sum(weights)) if count else 0.0
    if count == 0 or total <= 0 or any(w < 0 for w in weights):
        return [1 / count for _ in range(count)] if count else []
    return [float(w) / total for w in weights]


def bucket_ranges(weights: Sequence[float], coverage: float = 1.0) -> list[tuple[float, float]]:
    """GrowthBook's ``getBucketRanges``: one ``[start, start + coverage * w)`` per variation.

    Ranges start at the cumulative weight rather than being packed together, so raising
    coverage only widens every range: nobody already in the experiment changes variation.
    """
    coverage = min(max(coverage, 0.0), 1.0)
    ranges = []
    cumulative = 0.0
    for weight in normalise_weights(weights):
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variation(n: float, ranges: Sequence[tuple[float, float]]) -> int:
    """Index of the first range holding ``n``, or ``NOT_IN_EXPERIMENT``."""
    for index, (start, end) in enumerate(ranges):
        if start <= n < end:
            return index
    return NOT_IN_EXPERIMENT


def assign(
    visitor_id: str,
    seed: str,
    weights: Sequence[float],
    coverage: float = 1.0,
    hash_version: int = 2,
) -> int:
    """The variation index (0 = control) for a visitor, or ``NOT_IN_EXPERIMENT``."""
    n = hash_to_unit(seed, visitor_id, hash_version)
    return choose_variation(n, bucket_ranges(weights, coverage))
