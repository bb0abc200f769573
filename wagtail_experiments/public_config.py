"""The running experiments' public configuration, as headless front ends and edge workers
read it: enough to compute the server's bucket (GrowthBook-compatible) without asking it.

Built from the in-process route table, so it costs no query; the published weights are the
normalised ones the server buckets with, and edge code must use them as they are.
"""

from __future__ import annotations

import copy

from wagtail.models import Site

from .assignment import normalise_weights


def running_experiments_config(table, moment):
    """``{"experiments": [...]}`` for every route served at ``moment``: running ones, and
    completed ones whose promoted ``winner`` everybody gets. Experiments of pages behind a
    view restriction (password, login, groups) are left out: an edge cannot tell who passed
    it, and their pages' ids and URLs are not public."""
    sites = {site.site_id: site for site in Site.get_site_root_paths()}
    return {
        "experiments": [
            _experiment_config(route, sites)
            for route in table.routes
            if route.is_live_at(moment) and not route.restricted
        ]
    }


def _experiment_config(route, sites):
    site = sites.get(route.site_id)
    weights = normalise_weights(route.weights)
    return {
        "slug": route.slug,
        "hash_seed": route.seed,
        "hash_version": route.hash_version,
        "coverage": route.coverage,
        "winner": route.winner_key,
        "site": None if site is None else {"id": site.site_id, "root_url": site.root_url},
        "path": route.path,
        "url": route.control_url or None,
        "variants": [
            {
                "key": variant.key,
                "weight": weight,
                "page_id": variant.page_id,
                "url": variant.url,
                "payload": copy.deepcopy(variant.payload),
            }
            for variant, weight in zip(route.variants, weights, strict=True)
        ],
        "targeting": route.targeting.as_config(),
        "goals": [
            {"name": rule.name, "kind": rule.kind, "max_value": rule.max_value}
            for rule in route.goals.values()
        ],
    }
