"""Turn vectors into the near-duplicate pairs and clusters a report shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dupgate_hook.allowlist import Acceptance, AllowList
from dupgate_hook.manifest import VectorTable

Similarity = Callable[[np.ndarray, np.ndarray, float | None], np.ndarray]
_CHUNK = 1024


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    score: float
    exact: bool  # byte-identical: same content key
    acceptance: Acceptance | None = None


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
    paths_by_key: dict[str, list[str]] = {}
    for path in sorted(keys):
        paths_by_key.setdefault(keys[path], []).append(path)
    all_keys = list(paths_by_key)
    probe_paths: dict[str, list[str]] = {}
    for path in sorted(set(probes)):
        if path in keys:
            probe_paths.setdefault(keys[path], []).append(path)
    probe_keys = list(probe_paths)
    if not probe_keys:
        return []
    found: dict[tuple[str, str], Pair] = {}

    def add(p: str, q: str, score: float, exact: bool) -> None:
        a, b = (p, q) if p < q else (q, p)
        if (a, b) not in found:
            found[(a, b)] = Pair(a, b, score, exact, allow.lookup(a, keys[a], b, keys[b]))

    every = table.get(all_keys)
    column = {key: j for j, key in enumerate(all_keys)}
    for start in range(0, len(probe_keys), _CHUNK):
        chunk = probe_keys[start : start + _CHUNK]
        scores = np.asarray(similarity(table.get(chunk), every, floor), dtype=np.float64)
        for i, key in enumerate(chunk):
            for p in probe_paths[key]:
                for q in paths_by_key[key]:
                    if q != p:
                        add(p, q, 1.0, True)
            row = scores[i]
            hits = np.flatnonzero(row >= cutoff)
            for j in hits[hits != column[key]]:
                score = float(min(1.0, row[j]))
                for p in probe_paths[key]:
                    for q in paths_by_key[all_keys[j]]:
                        add(p, q, score, False)
    return sorted(found.values(), key=lambda pr: (-pr.score, pr.a, pr.b))


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
