"""Approximate audits: a nearest-neighbour index proposes pairs, the backend scores them exactly.

An exact audit scores all N^2/2 pairs: ~1 hour at 100,000 images with the `local` backend
(docs/scaling.md). `dupgate audit --approximate` instead puts cheap views of every image in
an HNSW index (usearch, an optional dependency), asks each image for its nearest neighbours,
and scores only the pairs proposed, with the backend's own score. So every pair reported has
its exact score and the threshold means what it always means; what can be lost is a pair the
index never proposed (measured in benchmarks/scale.py and docs/scaling.md).

The index is built afresh from the committed vectors on each run and never stored: the
manifest stays the only source of truth.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dupgate_hook.allowlist import AllowList
from dupgate_hook.backends.base import Backend
from dupgate_hook.compare import Pair, pairs_from_scores
from dupgate_hook.errors import DupgateError
from dupgate_hook.manifest import VectorTable

DEFAULT_NEIGHBOURS = 16
_BLOCK = 4096  # images whose views exist at once
Views = Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray]]
# HNSW insertion and search depth. In a crowded space (benchmarks/scale.py: 1,200 planted
# near-duplicates among 100,000 similar synthetic images) the graph's own misses dominate:
# share of the planted pairs proposed, 16 neighbours: depth 64/32: 83%, 64/96: 90%,
# 128/96: 97%, 64/256: 97% (1.4x slower). On the public set every setting finds 99.9%.
_EXPANSION_ADD = 128
_EXPANSION_SEARCH = 96


@dataclass(frozen=True)
class Approximate:
    pairs: list[Pair]
    candidates: int  # pairs the index proposed and the backend scored
    crowded: int  # images with at least `neighbours` partners found: some may be missing


def index_class() -> type:
    try:
        from usearch.index import Index
    except ImportError:
        raise DupgateError(
            "--approximate needs the usearch package: pip install 'dupgate-hook[index]' "
            "(or run the exact audit without --approximate)"
        ) from None
    return Index


def candidate_pairs(vectors: np.ndarray, views: Views, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique pairs (first < second) of images where a query of one found an entry of the other.

    Views are made a block of images at a time (entries, then queries), so memory holds
    the index and one block, not every image's views at once.
    """
    n = len(vectors)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    threads = os.cpu_count() or 1
    index = None
    per_image = 0
    for s in range(0, n, _BLOCK):
        entries, _ = views(vectors[s : s + _BLOCK], False)
        count, per_image, dim = entries.shape
        if index is None:
            index = index_class()(
                ndim=dim,
                metric="l2sq",
                dtype="f16",
                multi=True,
                expansion_add=_EXPANSION_ADD,
                expansion_search=_EXPANSION_SEARCH,
            )
        owners = np.tile(np.arange(s, s + count, dtype=np.uint64), per_image)
        # One thread: a graph built in parallel depends on timing, and an audit of the same
        # commit must propose the same pairs every time. Searches are independent: threaded.
        index.add(owners, entries.transpose(1, 0, 2).reshape(-1, dim), threads=1)
    assert index is not None
    wanted = neighbours + per_image  # each image's own entries come back too
    codes = []
    for s in range(0, n, _BLOCK):
        _, queries = views(vectors[s : s + _BLOCK], True)
        asker = np.arange(s, s + len(queries), dtype=np.int64)[:, None]
        for view in range(queries.shape[1]):
            matches = index.search(np.ascontiguousarray(queries[:, view]), wanted, threads=threads)
            other = matches.keys.astype(np.int64)
            valid = (np.arange(other.shape[1])[None, :] < matches.counts[:, None]) & (other != asker)
            low = np.minimum(asker, other)[valid]
            high = np.maximum(asker, other)[valid]
            codes.append(np.unique(low * n + high))
    unique = np.unique(np.concatenate(codes))
    return unique // n, unique % n


def approximate_pairs(
    keys: dict[str, str],
    table: VectorTable,
    backend: Backend,
    threshold: float,
    allow: AllowList,
    neighbours: int = DEFAULT_NEIGHBOURS,
) -> Approximate:
    """Every image of `keys` audited against the others through the index (see the docstring)."""
    if neighbours < 1:
        raise DupgateError(f"--neighbours: must be 1 or more, not {neighbours}")
    wanted = set(keys.values())
    col_keys = [k for k in table.all_keys() if k in wanted]
    matrix = table.matrix()
    vectors = matrix if len(col_keys) == len(table) else matrix[table.rows(col_keys)]
    first, second = candidate_pairs(vectors, backend.views, neighbours)
    scores = backend.pair_scores(vectors, first, second, threshold if threshold > 0 else None)
    keep = np.flatnonzero(scores >= threshold) if threshold > 0 else np.arange(len(scores))
    # An image with `neighbours` or more confirmed partners may have more than any one of
    # its neighbour lists could hold: say so, rather than cut its cluster silently.
    partners = np.bincount(np.concatenate([first[keep], second[keep]]), minlength=len(vectors))
    crowded = int((partners >= neighbours).sum()) if threshold > 0 else 0
    scored = [(col_keys[first[p]], col_keys[second[p]], float(scores[p])) for p in keep]
    return Approximate(pairs_from_scores(keys, scored, allow), len(first), crowded)
