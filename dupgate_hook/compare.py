"""Turn vectors into the near-duplicate pairs and clusters a report shows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dupgate_hook.allowlist import Acceptance, AllowList
from dupgate_hook.manifest import VectorTable

if TYPE_CHECKING:
    from dupgate_hook.verify import Evidence

Similarity = Callable[[np.ndarray, np.ndarray, float | None], np.ndarray]
_CHUNK = 1024  # probe rows per similarity call
# Stored columns per call. Few probes (the hook) score against many columns at once; many
# probes (an audit) also build every column's window vectors (~15 KB each), so their
# blocks are narrower: the audit's memory stays within about the size of the vectors.
_COLUMNS = 16384
_AUDIT_COLUMNS = 2048
_FEW_PROBES = 8


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    score: float
    exact: bool  # byte-identical: same content key
    acceptance: Acceptance | None = None
    evidence: Evidence | None = None  # what the pixels showed (None: exact, accepted or not checked)


class _Found:
    """Pairs of paths collected once each (a, b sorted), with their acceptance looked up."""

    def __init__(self, keys: dict[str, str], allow: AllowList) -> None:
        self.keys, self.allow = keys, allow
        self.pairs: dict[tuple[str, str], Pair] = {}

    def add(self, p: str, q: str, score: float, exact: bool) -> None:
        a, b = (p, q) if p < q else (q, p)
        if (a, b) not in self.pairs:
            self.pairs[(a, b)] = Pair(a, b, score, exact, self.allow.lookup(a, self.keys[a], b, self.keys[b]))

    def best_first(self) -> list[Pair]:
        return sorted(self.pairs.values(), key=lambda pr: (-pr.score, pr.a, pr.b))


def _paths_by_key(keys: dict[str, str]) -> dict[str, list[str]]:
    paths_by_key: dict[str, list[str]] = {}
    for path in sorted(keys):
        paths_by_key.setdefault(keys[path], []).append(path)
    return paths_by_key


def pairs_from_scores(
    keys: dict[str, str], scored: Iterable[tuple[str, str, float]], allow: AllowList
) -> list[Pair]:
    """Pairs of paths from scored pairs of content keys, plus byte-identical files; best first."""
    paths_by_key = _paths_by_key(keys)
    found = _Found(keys, allow)
    for key_a, key_b, score in scored:
        for p in paths_by_key[key_a]:
            for q in paths_by_key[key_b]:
                found.add(p, q, min(1.0, score), False)
    for paths in paths_by_key.values():
        for n, p in enumerate(paths):
            for q in paths[n + 1 :]:
                found.add(p, q, 1.0, True)
    return found.best_first()


def find_pairs(
    probes: list[str],
    keys: dict[str, str],
    table: VectorTable,
    similarity: Similarity,
    threshold: float,
    allow: AllowList,
) -> list[Pair]:
    """Pairs (probe, any image) scoring at or above `threshold`, best first.

    `keys` maps every image that counts (path -> content key with a vector in `table`);
    `probes` are the images under scrutiny (the staged ones, or all of them in an audit).
    A threshold of 0 lists every pair, negative scores included.
    """
    floor = threshold if threshold > 0 else None
    cutoff = threshold if threshold > 0 else -np.inf
    paths_by_key = _paths_by_key(keys)
    probe_paths: dict[str, list[str]] = {}
    for path in sorted(set(probes)):
        if path in keys:
            probe_paths.setdefault(keys[path], []).append(path)
    probe_keys = list(probe_paths)
    if not probe_keys:
        return []
    found = _Found(keys, allow)
    add = found.add

    # Columns in the table's own order, so the stored matrix is used without a copy when
    # every vector counts (the usual case: 100,000 vectors are 122 MB as float16).
    col_keys = [k for k in table.all_keys() if k in paths_by_key]
    matrix = table.matrix()
    every = matrix if len(col_keys) == len(table) else matrix[table.rows(col_keys)]
    # An audit (every image a probe) walks the columns' order and scores each chunk only
    # against the columns from its own start on: scores are symmetric, so the pairs with
    # earlier columns were found when those were the rows. Half the work, same pairs.
    triangle = len(probe_keys) == len(col_keys)
    order = col_keys if triangle else probe_keys
    for start in range(0, len(order), _CHUNK):
        chunk = order[start : start + _CHUNK]
        rows = every[start : start + len(chunk)] if triangle else table.get(chunk)
        first = start if triangle else 0
        width = _COLUMNS if len(chunk) <= _FEW_PROBES else _AUDIT_COLUMNS
        for c0 in range(first, len(col_keys), width):
            c1 = min(len(col_keys), c0 + width)
            scores = similarity(rows, every[c0:c1], floor)  # blocks: memory stays bounded
            for i, j in zip(*np.nonzero(scores >= cutoff), strict=True):
                key, other = chunk[i], col_keys[c0 + j]
                if other == key:
                    continue
                score = float(min(1.0, float(scores[i, j])))
                for p in probe_paths.get(key, ()):
                    for q in paths_by_key[other]:
                        add(p, q, score, False)
                for p in probe_paths.get(other, ()) if triangle else ():
                    for q in paths_by_key[key]:
                        add(p, q, score, False)
        for key in chunk:
            for p in probe_paths.get(key, ()):
                for q in paths_by_key[key]:
                    if q != p:
                        add(p, q, 1.0, True)
    return found.best_first()


def merged(pairs: list[Pair], more: list[Pair]) -> list[Pair]:
    """Both lists of pairs, each pair once at its best score, best first (as `best_first`)."""
    best = {(p.a, p.b): p for p in pairs}
    for p in more:
        if (p.a, p.b) not in best or best[(p.a, p.b)].score < p.score:
            best[(p.a, p.b)] = p
    return sorted(best.values(), key=lambda pr: (-pr.score, pr.a, pr.b))


def clusters(pairs: list[Pair]) -> list[list[str]]:
    """Connected groups ("lineages") of the pairs given, largest first."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        ra, rb = root(pair.a), root(pair.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for member in parent:
        groups.setdefault(root(member), []).append(member)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g))
