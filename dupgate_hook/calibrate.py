"""Where this repository's scores fall, and a threshold suggested from them.

A threshold is only trusted when the user sees their own repo's scores. Each image's
nearest-neighbour score (its best match among the others) is the natural statistic: distinct
images pile up low, near-duplicates sit high, and a good threshold lies in the empty stretch
between the two. The suggestion is the middle of the widest such stretch near the backend's
default: a threshold there changes no verdict when scores wobble a little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dupgate_hook.allowlist import AllowList
from dupgate_hook.compare import Pair, Similarity
from dupgate_hook.manifest import VectorTable

BIN_WIDTH = 0.025
SEARCH_HALF_WIDTH = 0.12  # the suggestion stays this close to the backend's default
MIN_CLEAR_GAP = 0.03  # an empty stretch narrower than this is noise, not a separation
PAIRS_EACH_SIDE = 6
SAMPLE = 2000  # past this many images, nearest-neighbour scores come from a sample (time grows as n*n)
_CHUNK = 512
_MAX_KEPT = 5_000_000  # pair scores kept for counting; bounds memory on huge, duplicate-heavy repos


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    below_floor: bool = False

    @property
    def label(self) -> str:
        return f"below {self.high:.3f}" if self.below_floor else f"{self.low:.3f}-{self.high:.3f}"


@dataclass
class Calibration:
    images: int
    threshold: float
    suggested: float
    bins: list[Bin]
    reasoning: list[str]
    just_above: list[Pair]
    just_below: list[Pair]


def calibrate(
    keys: dict[str, str],
    table: VectorTable,
    similarity: Similarity,
    threshold: float,
    default: float,
    allow: AllowList,
) -> Calibration:
    """Nearest-neighbour scores of every image in `keys`, binned, with a suggested threshold."""
    paths_by_key: dict[str, list[str]] = {}
    for path in sorted(keys):
        paths_by_key.setdefault(keys[path], []).append(path)
    unique = list(paths_by_key)
    window = (max(0.0, default - SEARCH_HALF_WIDTH), min(0.995, default + SEARCH_HALF_WIDTH))
    # On a bin edge: the histogram's lowest bin ("below F") and the text name the same F.
    floor = float(np.floor(max(0.0, min(threshold, window[0]) - 0.1) / BIN_WIDTH + 1e-9) * BIN_WIDTH)
    floor = round(floor, 6)
    rows = np.arange(len(unique))
    if len(rows) > SAMPLE:  # each sampled image still meets every other: its nearest score is exact
        rows = np.sort(np.random.default_rng(0).choice(len(unique), SAMPLE, replace=False))
    nearest, kept_scores, kept_i, kept_j = _scan(table.get(unique), rows, similarity, floor)
    for n, row in enumerate(rows):
        if len(paths_by_key[unique[row]]) > 1:
            nearest[n] = 1.0  # byte-identical copies
    per_image = np.repeat(nearest, [len(paths_by_key[unique[row]]) for row in rows])
    sample_note = (
        f" (a random sample of {len(rows)} distinct images, each scored against all {len(unique)}: "
        "figures below are for the sample)"
        if len(rows) < len(unique)
        else ""
    )
    suggested, why = _suggest(nearest, window, default, floor)

    def pair(i: int, j: int, score: float) -> Pair:
        a, b = sorted((paths_by_key[unique[i]][0], paths_by_key[unique[j]][0]))
        return Pair(a, b, score, False, allow.lookup(a, keys[a], b, keys[b]))

    above = np.flatnonzero(kept_scores >= threshold)
    below = np.flatnonzero(kept_scores < threshold)
    above = above[np.argsort(kept_scores[above], kind="stable")[:PAIRS_EACH_SIDE]]
    below = below[np.argsort(-kept_scores[below], kind="stable")[:PAIRS_EACH_SIDE]]
    reasoning = [
        f"{len(keys)} images ({len(unique)} distinct contents){sample_note}; nearest-neighbour score: "
        f"median {np.median(per_image):.3f}, 90th percentile {np.percentile(per_image, 90):.3f}, "
        f"99th percentile {np.percentile(per_image, 99):.3f} "
        f"(scores below {floor:.3f} are not computed exactly: they count as 'below {floor:.3f}').",
        _verdict_line("current threshold", threshold, per_image, kept_scores),
        *why,
    ]
    if abs(suggested - threshold) >= 0.005:
        reasoning.append(_verdict_line("suggested threshold", suggested, per_image, kept_scores))
        reasoning.append(
            f"To adopt it, put `threshold: {suggested:.2f}` in .dupgate.yaml; look at the "
            "pairs either side first."
        )
    else:
        reasoning.append("The current threshold already sits there: keep it.")
    return Calibration(
        images=len(keys),
        threshold=threshold,
        suggested=suggested,
        bins=_bins(per_image, floor),
        reasoning=reasoning,
        just_above=[pair(kept_i[k], kept_j[k], float(kept_scores[k])) for k in above],
        just_below=[pair(kept_i[k], kept_j[k], float(kept_scores[k])) for k in below],
    )


def _scan(
    vectors: np.ndarray, rows: np.ndarray, similarity: Similarity, floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each of `rows`' best score against all others, and the pairs from those rows scoring >= floor.

    A pair of two sampled rows is kept once (i < j).
    """
    n = len(vectors)
    sampled = np.zeros(n, dtype=bool)
    sampled[rows] = True
    nearest = np.full(len(rows), -1.0)
    scores: list[np.ndarray] = []
    found_i: list[np.ndarray] = []
    found_j: list[np.ndarray] = []
    kept = 0
    for start in range(0, len(rows), _CHUNK):
        own = rows[start : start + _CHUNK]
        # all rows at once: the same array twice lets the backend score each pair once
        probe = vectors if len(own) == n else vectors[own]
        block = np.asarray(similarity(probe, vectors, floor or None), dtype=np.float64)
        local = np.arange(len(own))
        block[local, own] = -np.inf
        if n > 1:
            nearest[start : start + len(own)] = block.max(axis=1)
        later = ~sampled[None, :] | (np.arange(n)[None, :] > own[:, None])
        ii, jj = np.nonzero((block >= floor) & later)
        if kept < _MAX_KEPT:
            scores.append(block[ii, jj])
            found_i.append(own[ii])
            found_j.append(jj)
            kept += len(ii)
    if not scores:
        empty = np.zeros(0)
        return nearest, empty, empty.astype(int), empty.astype(int)
    return nearest, np.concatenate(scores), np.concatenate(found_i), np.concatenate(found_j)


def _suggest(
    nearest: np.ndarray, window: tuple[float, float], default: float, floor: float
) -> tuple[float, list[str]]:
    """The middle of the widest empty stretch of nearest-neighbour scores inside the window."""
    lo, hi = window
    values = np.unique(nearest)
    inside = values[(values > lo) & (values < hi)]
    edges = np.concatenate([[lo], inside, [hi]])
    k = int(np.argmax(np.diff(edges)))
    start, stop = float(edges[k]), float(edges[k + 1])
    if stop - start < MIN_CLEAR_GAP:
        return default, [
            f"No clear gap: nearest-neighbour scores run on without an empty stretch of "
            f"{MIN_CLEAR_GAP} or more between {lo:.2f} and {hi:.2f}, so the scores do not pick a "
            f"threshold; the suggestion is the backend's default {default:.2f} (tuned on a labelled "
            "benchmark). Judge the pairs either side of it by eye."
        ]
    suggested = round((start + stop) / 2, 2)
    lower = values[values <= start]
    upper = values[values >= stop]
    below = f"{lower[-1]:.3f}" if len(lower) and lower[-1] >= floor else f"{floor:.3f}"
    above = f"{upper[0]:.3f}" if len(upper) else "1.000"
    return suggested, [
        f"Suggested {suggested:.2f}: no image has its nearest neighbour between {below} and {above}; "
        f"{start:.2f}-{stop:.2f} is the widest empty stretch within {SEARCH_HALF_WIDTH} of the backend's "
        f"default {default:.2f} ({int(np.sum(nearest <= start))} distinct images score below it, "
        f"{int(np.sum(nearest >= stop))} above). A threshold in the middle of it reports the same pairs "
        "when scores shift a little, e.g. after re-compression."
    ]


def _verdict_line(name: str, threshold: float, per_image: np.ndarray, pair_scores: np.ndarray) -> str:
    images = int(np.sum(per_image >= threshold))
    pairs = int(np.sum(pair_scores >= threshold))
    return (
        f"At the {name} {threshold:.2f}: {images} image(s) have a near-duplicate "
        f"({pairs} pair(s) of distinct contents)."
    )


def _bins(per_image: np.ndarray, floor: float) -> list[Bin]:
    start = np.floor(floor / BIN_WIDTH) * BIN_WIDTH
    edges = np.round(np.arange(start, 1.0 + BIN_WIDTH / 2, BIN_WIDTH), 6)
    edges[-1] = 1.0 + 1e-9  # 1.0 belongs to the last bin
    counts, _ = np.histogram(per_image[per_image >= start], bins=edges)
    out = [Bin(float(start), float(start), int(np.sum(per_image < start)), below_floor=True)]
    out += [Bin(float(edges[k]), float(min(1.0, edges[k + 1])), int(c)) for k, c in enumerate(counts)]
    if out[0].count == 0:
        out = out[1:]
    return out
