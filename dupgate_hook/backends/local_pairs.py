"""The `local` score of chosen pairs, and the cheap views that choose them (approximate audits).

An exact audit scores every pair in dense blocks (`local.LocalBackend.similarity`). An
approximate audit (`dupgate audit --approximate`, see `dupgate_hook.neighbours`) asks a
nearest-neighbour index which pairs are worth scoring, then scores only those, here, with
the same maths: the result equals `similarity` on the same pair (up to float32 rounding).

Scoring scattered pairs in dense blocks would waste almost all the work, and building each
pair's windows again would cost ~80 us a pair, so pairs are grouped by image: an image's
windows are built once (in blocks of images) and compared with all its partners' maps in
one product; the maps and band vectors of every image are prepared once up front.

The views: the index holds each image's 12x12 map and centred square (band vectors and
band tones, 156 values); each image asks with those two and 5 of its 25 windows (corners
and centre), so a crop finds the picture it was cut from.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from dupgate_hook.backends import local_features as lf
from dupgate_hook.backends import local_match as lm
from dupgate_hook.backends import local_windows as lw

_BLOCK = 1024  # images whose windows are built at once
_THREADS = 2  # blocks in parallel: numpy releases the GIL in the products
VIEW_WINDOWS = (0, 4, 12, 20, 24)  # of the 5x5 window positions: corners and centre
TONE_WEIGHT = 1.25  # a band 0.1 brighter costs as much distance as its cosine falling by 0.03


@dataclass(frozen=True)
class _Prepared:
    """Per image, everything a partner needs: band units and tones of f12, sq and full maps."""

    maps: np.ndarray  # (n, BANDS, 2, CELLS + 1): f12 and sq band units
    maps_value: np.ndarray  # (n, BANDS, 2)
    maps_sat: np.ndarray
    full: lf.Bands
    rgb: np.ndarray  # (n, COLOUR_BANDS, 3), see `local_match.colour_agreement`
    detail: np.ndarray  # (n,)

    @classmethod
    def of(cls, vectors: np.ndarray) -> _Prepared:
        n = len(vectors)
        maps = np.empty((n, lf.BANDS, 2, lf.CELLS + 1), np.float32)
        value = np.empty((n, lf.BANDS, 2), np.float32)
        sat = np.empty((n, lf.BANDS, 2), np.float32)
        full_unit = np.empty((n, lf.BANDS, lf.GRID * lf.GRID // lf.BANDS + 1), np.float32)
        full_value = np.empty((n, lf.BANDS), np.float32)
        full_sat = np.empty((n, lf.BANDS), np.float32)
        rgb = np.empty((n, lf.COLOUR_BANDS, 3), np.float32)
        detail = np.empty(n, np.float32)
        for s in range(0, n, 4096):
            p = lf.unpack(vectors[s : s + 4096])
            rows = slice(s, s + len(p.f16))
            for t, bands in enumerate((p.f12, p.sq)):
                maps[rows, :, t] = bands.unit
                value[rows, :, t] = bands.value
                sat[rows, :, t] = bands.sat
            full_unit[rows], full_value[rows], full_sat[rows] = p.full.unit, p.full.value, p.full.sat
            rgb[rows], detail[rows] = p.rgb, p.detail
        return cls(maps, value, sat, lf.Bands(full_unit, full_value, full_sat), rgb, detail)


def _one_against_many(x: lf.Bands, y: lf.Bands) -> np.ndarray:
    """`band_scores` of one image's map (x: (1, BANDS, d)) against m maps, as (m,): one
    product over all bands instead of one per band (this runs once per image and framing)."""
    cos = np.einsum("bd,mbd->mb", x.unit[0], y.unit)
    cos *= lm.tone(x.value[0] - y.value, x.sat[0] - y.sat)
    return lm.aggregate_last(cos)


def _one_image(
    prep: _Prepared, i: int, partners: np.ndarray, windows: tuple[np.ndarray, ...], floor: float
) -> np.ndarray:
    """Image i against each partner: the four whole-map framings, and i's windows on their maps.

    `windows` are i's window units (BANDS, N_WIN, d), values and saturations (BANDS, N_WIN).
    Window framings are weighted by tone only where their cosines could reach `floor` and
    beat the whole-map score, as `local.similarity` does with a tighter bound.
    """
    maps, value, sat = prep.maps[partners], prep.maps_value[partners], prep.maps_sat[partners]
    one = slice(i, i + 1)

    def bands(t: int) -> tuple[lf.Bands, lf.Bands]:  # f12 (t 0) or sq (1): image i's, partners'
        return (
            lf.Bands(prep.maps[one, :, t], prep.maps_value[one, :, t], prep.maps_sat[one, :, t]),
            lf.Bands(maps[:, :, t], value[:, :, t], sat[:, :, t]),
        )

    (f12, other_f12), (sq, other_sq) = bands(0), bands(1)
    best = lm.whole_map_scores(
        (prep.full.take(one), f12, sq), (prep.full.take(partners), other_f12, other_sq), _one_against_many
    )
    units, w_value, w_sat = windows
    m = len(partners)
    cos = units @ maps.transpose(1, 3, 0, 2).reshape(lf.BANDS, lf.CELLS + 1, m * 2)
    # tone is in [0, 1], so cos * tone <= max(cos, 0), and `aggregate` is monotone.
    upper = lm.aggregate(list(np.maximum(cos.max(axis=1), 0.0))).reshape(m, 2).max(axis=1)
    need = np.flatnonzero((upper > best) & (upper >= floor))
    if len(need) == 0:
        return best
    cols = (need[:, None] * 2 + np.arange(2)).reshape(-1)
    c = cos[:, :, cols]
    dv = w_value[:, :, None] - value[need].transpose(1, 0, 2).reshape(lf.BANDS, 1, -1)
    ds = w_sat[:, :, None] - sat[need].transpose(1, 0, 2).reshape(lf.BANDS, 1, -1)
    c *= lm.tone(dv, ds)
    framed = lm.aggregate(list(c)).reshape(lf.N_WIN, len(need), 2).max(axis=(0, 2))
    best[need] = np.maximum(best[need], framed)
    return best


def pair_scores(
    vectors: np.ndarray, first: np.ndarray, second: np.ndarray, floor: float | None = None
) -> np.ndarray:
    """Scores of the pairs (vectors[first[p]], vectors[second[p]]), as `similarity` gives them.

    With `floor`, as in `similarity`: scores below it may come back lower than exact.
    """
    n, count = len(vectors), len(first)
    if count == 0:
        return np.zeros(0, np.float32)
    low = -np.inf if floor is None else floor
    prep = _Prepared.of(vectors)
    # Both directions of every pair: image a's windows against b's maps, and b's against a's.
    a = np.concatenate([first, second]).astype(np.int32)  # int32: 10^7 pairs are common
    b = np.concatenate([second, first]).astype(np.int32)
    order = np.argsort(a, kind="stable")
    a, b = a[order], b[order]
    bounds = np.searchsorted(a, np.arange(n + 1))
    directed = np.empty(2 * count, np.float32)

    def block(s: int) -> None:  # images s .. s + _BLOCK: each writes its own slice of `directed`
        e = min(n, s + _BLOCK)
        if bounds[e] == bounds[s]:
            return
        parts = lf.unpack(vectors[s:e])
        stats = lw.window_stats(parts)
        units = lw.window_units(parts.f16, stats)  # (BANDS, e - s, N_WIN, d)
        for i in range(s, e):
            lo, hi = bounds[i], bounds[i + 1]
            if lo < hi:
                windows = (units[:, i - s], stats.value[:, i - s], stats.sat[:, i - s])
                directed[lo:hi] = _one_image(prep, i, b[lo:hi], windows, low)

    with ThreadPoolExecutor(_THREADS) as pool:
        list(pool.map(block, range(0, n, _BLOCK)))
    # Back to the caller's order; a pair's score is the better of its two directions.
    back = np.empty(2 * count, np.float32)
    back[order] = directed
    best = np.maximum(back[:count], back[count:])
    best *= lm.colour_pairs(prep.rgb, prep.detail, first, second)
    scores: np.ndarray = np.clip(best, -1.0, 1.0)
    return scores


def views(vectors: np.ndarray, queries_too: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(entries (n, 2, D), queries (n, Q, D)): view vectors for a Euclidean nearest-neighbour index.

    Without `queries_too` the queries come back empty (n, 0, D) and no window is built.

    A view is a map's four band unit vectors (halved, so the whole has length 1) followed by
    its band brightness and saturation times TONE_WEIGHT: near means the same texture *and*
    about the same tone, as the score requires. Without the tone, pale near-flat pictures
    crowd each other out of the neighbour lists (public set: 95% of the exact audit's pairs
    proposed); with too much, a banner over one band puts a picture further from its
    original than unrelated pictures are (planted families of benchmarks/scale.py: 72% of
    banner pairs proposed at weight 3, against 99.97% at 1.25). Public set at 1.25: 99.9%.
    """
    n = len(vectors)
    d = lf.BANDS * (lf.CELLS + 1)
    width = d + 2 * lf.BANDS
    entries = np.empty((n, 2, width), np.float32)
    queries = np.empty((n, 2 + len(VIEW_WINDOWS) if queries_too else 0, width), np.float32)

    def fill(out: np.ndarray, units: np.ndarray, value: np.ndarray, sat: np.ndarray) -> None:
        out[..., :d] = 0.5 * units.reshape(*units.shape[:-2], d)
        out[..., d : d + lf.BANDS] = TONE_WEIGHT * value
        out[..., d + lf.BANDS :] = TONE_WEIGHT * sat

    for s in range(0, n, _BLOCK):
        p = lf.unpack(vectors[s : s + _BLOCK])
        rows = slice(s, s + len(p.f16))
        for t, bands in enumerate((p.f12, p.sq)):
            fill(entries[rows, t], bands.unit, bands.value, bands.sat)
        if not queries_too:
            continue
        stats = lw.window_stats(p)
        at = list(VIEW_WINDOWS)
        units = lw.window_units(p.f16, stats)[:, :, at].transpose(1, 2, 0, 3)
        fill(
            queries[rows, 2:],
            units,
            stats.value[:, :, at].transpose(1, 2, 0),
            stats.sat[:, :, at].transpose(1, 2, 0),
        )
    if queries_too:
        queries[:, :2] = entries
    return entries, queries
