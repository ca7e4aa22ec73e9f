"""The offline default backend: multi-view brightness maps compared under several framings.

v4 ("mv4"; mv3 had no colour and composited every transparent image on white). A
perceptual hash compares one global thumbnail and so misses crops, recolours and overlays.
This backend stores, per image, small brightness maps (whole frame, centred square), coarse
saturation and the mean colour of 8 horizontal bands, 637 float16 values (about 1.3 KB), and
scores a pair as the best of: whole frame vs whole frame, any of 25 "75% windows" of one vs
the whole other, and the centred square of one vs the other's whole frame or windows; then,
where the pictures hold little structure (flat colours, blank, smooth gradients), colour must
agree too (`local_match.colour_agreement`). Transparent art is shown on black when white
would hide it (`images.VISIBLE`). The maths, and why each piece is there, lives in
`local_features` (the descriptor), `local_windows` (75% windows of stored maps) and
`local_match` (band scores, tone, colour); this module is the `Backend` wrapper and the
search for the best framing.

The score is not plain cosine: it lies in [-1, 1], is 1.0 for identical images and is what
the threshold is compared with. On the public benchmark (benchmarks/README.md) a threshold
of 0.76 gave gate precision 0.99 (F1 0.91, AP 0.96); on the development sets with hard
negatives (benchmarks/datasets) it is far from precise enough (docs/precision.md).

Speed. The four whole-map framings are cheap and are scored exactly for every pair. The
window framings are 200 band comparisons per pair and direction; their cosines come from
matrix products, but weighting each by its tone would dominate the time, so it is done only
where it can matter: a window framing's score is at most the mean of the best three bands
of max(0, best cosine over the windows) * (best tone any window could have), and wherever
that bound does not beat the pair's score so far, the framing cannot change the result.
Scores equal those of scoring every framing in full, up to float32 rounding.

In the hook (a few new images against every stored one) the cost is per stored image:
unpacking its maps, its band and window statistics. Stored images are therefore scored in
column blocks of ~2,000, one block per thread, so that work stays in cache; a block's scores
are exactly those of one call over all columns (tests/test_local_backend.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dupgate_hook.backends import local_features as lf
from dupgate_hook.backends import local_match as lm
from dupgate_hook.backends import local_windows as lw
from dupgate_hook.backends.base import BackendSettings, l2_normalise

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PIL import Image

# Windows of the other side are scored from the raw maps with one matrix product against
# the probe's bands placed at every window position when the probe side has at most this
# many images (the hook: few against many); otherwise they are built once per call.
_KERNEL_LIMIT = 8
_THREADS = 2
_CHUNK = 2_000_000  # bound on the elements of the cosine tensors alive at once
_COLUMN_BLOCK = 2048  # stored images per block when few probes meet many (the hook)
_TARGETS = 2  # each window is compared with the other image's f12 map and centred square

MODEL_ID = "mv4"
"""The descriptor's id, part of the manifest's vector-space name. Changing it re-embeds every
repository: vectors of another model are never compared, and the hook tells users to run
`dupgate update`. Bump it whenever `describe` or the score changes. mv4 = mv3 plus band
colours, which must agree where structure is scarce, and transparent art shown on black
where white hides it (images.VISIBLE)."""


@dataclass(frozen=True)
class _Maps:
    """The maps windows are compared with, band-major: (BANDS, n * _TARGETS, CELLS + 1)."""

    unit: np.ndarray
    value_bm: np.ndarray  # (BANDS, n * _TARGETS)
    sat_bm: np.ndarray

    @classmethod
    def of(cls, parts: lf.Parts) -> _Maps:
        def band_major(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            both = np.stack([x, y], axis=1)  # (n, T, B, ...)
            return np.ascontiguousarray(np.moveaxis(both, 2, 0)).reshape(lf.BANDS, -1, *x.shape[2:])

        return cls(
            band_major(parts.f12.unit, parts.sq.unit),
            band_major(parts.f12.value, parts.sq.value),
            band_major(parts.f12.sat, parts.sq.sat),
        )


@dataclass(frozen=True)
class _Windows:
    """One side's windows: statistics, and either unit vectors or the raw maps."""

    stats: lw.WindowStats
    ranges: tuple[np.ndarray, ...]  # lw.WindowStats.ranges(), for the tone bound
    units: np.ndarray | None  # (BANDS, n, N_WIN, CELLS + 1), or None: use kernels on `flat`
    flat: np.ndarray | None  # (n, GRID * GRID) maps minus their mean level

    @property
    def axis(self) -> int:
        """The window axis of this side's cosine arrays (see `_cosines`)."""
        return 1 if self.units is not None else 2

    @classmethod
    def of(cls, parts: lf.Parts, explicit: bool) -> _Windows:
        stats = lw.window_stats(parts)
        if explicit:
            return cls(stats, stats.ranges(), lw.window_units(parts.f16, stats), None)
        flat = parts.f16.reshape(len(parts.f16), -1)
        # Kernels sum to zero, so the level does not change the products, only their rounding.
        return cls(stats, stats.ranges(), None, flat - flat.mean(axis=1, keepdims=True))


def _cosines(
    win: _Windows, rows: slice, maps: _Maps, cols: slice, kernels: np.ndarray | None
) -> list[np.ndarray]:
    """Per band, cosines of windows of images `rows` with map columns `cols`.

    Explicit windows give (c, N_WIN, M); kernels give (c, M, N_WIN), windows last, so the best
    window of each of the many rows is a reduction over a contiguous axis (`_Windows.axis`).
    """
    out = []
    for b in range(lf.BANDS):
        y = maps.unit[b, cols]
        if win.units is not None:
            w = win.units[b, rows]
            cos = (w.reshape(-1, w.shape[-1]) @ y.T).reshape(w.shape[0], lf.N_WIN, -1)
        else:
            assert kernels is not None and win.flat is not None
            raw = lw.strip(win.flat[rows], b) @ kernels[b]
            cos = raw.reshape(len(raw), -1, lf.N_WIN)
            cos += np.sqrt(lf.EPS) * y[:, -1, None]  # flatness term, before scaling by the window norm
            cos *= win.stats.inv_denom[b, rows, None, :]
        out.append(cos)
    return out


def _bounds(cos: list[np.ndarray], win: _Windows, rows: slice, maps: _Maps, cols: slice) -> np.ndarray:
    """Upper bound (c, M) on each window framing's score (see the module docstring)."""
    v_lo, v_hi, s_lo, s_hi = (r[:, rows, None] for r in win.ranges)
    tops = []
    for b, c in enumerate(cos):
        top = c.max(axis=win.axis)
        np.maximum(top, 0.0, out=top)
        gap = lm.tone_gap(v_lo[b], v_hi[b], maps.value_bm[b, None, cols])
        gap += lm.tone_gap(s_lo[b], s_hi[b], maps.sat_bm[b, None, cols])
        gap *= -1.0 / lm.TONE_SCALE**2
        top *= np.exp(gap)
        tops.append(top)
    return lm.aggregate(tops)


def _raise_by_windows(
    win: _Windows, maps: _Maps, best: np.ndarray, floor: float, threads: int = _THREADS
) -> None:
    """Raise best (n_win, n_maps) in place to any window score that beats it and reaches floor."""
    n, m = best.shape
    per_row = lf.BANDS * lf.N_WIN * _TARGETS
    if win.units is None:  # kernels: all map columns at once (there are few)
        kernels: np.ndarray | None = lw.window_kernels(maps.unit.transpose(1, 0, 2))
        col_step = m
    else:
        kernels = None
        col_step = max(1, min(m, _CHUNK // (per_row * 16)))
    row_step = max(1, min(-(-n // threads), _CHUNK // (per_row * col_step)))

    def run(block: tuple[int, int]) -> None:
        i0, j0 = block
        rows, j1 = slice(i0, min(n, i0 + row_step)), min(m, j0 + col_step)
        cols = slice(j0 * _TARGETS, j1 * _TARGETS)
        cos = _cosines(win, rows, maps, cols, kernels)
        bound = _bounds(cos, win, rows, maps, cols).reshape(len(cos[0]), j1 - j0, _TARGETS)
        top = bound.max(axis=2)
        ii, jj = np.nonzero((top > best[rows, j0:j1]) & (top >= floor))
        if len(ii):
            _exact(cos, win, maps, best, (rows, j0), ii, jj)

    blocks = [(i0, j0) for j0 in range(0, m, col_step) for i0 in range(0, n, row_step)]
    if len(blocks) == 1 or threads == 1:
        for block in blocks:
            run(block)
        return
    # Blocks write disjoint parts of `best`; numpy and BLAS release the GIL.
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, blocks))


def _exact(
    cos: list[np.ndarray],
    win: _Windows,
    maps: _Maps,
    best: np.ndarray,
    at: tuple[slice, int],
    ii: np.ndarray,
    jj: np.ndarray,
) -> None:
    """Full window framing scores for chunk pairs (ii, jj); raise best where they beat it."""
    rows, j0 = at
    local_cols = jj[:, None] * _TARGETS + np.arange(_TARGETS)  # (P, T)
    i, j = ii + rows.start, jj + j0
    cols = local_cols + j0 * _TARGETS
    per_band = []
    for b, x in enumerate(cos):
        c = x[ii[:, None], :, local_cols] if win.axis == 1 else x[ii[:, None], local_cols]  # (P, T, K)
        c *= lm.tone(
            win.stats.value[b, i, None, :] - maps.value_bm[b, cols, None],
            win.stats.sat[b, i, None, :] - maps.sat_bm[b, cols, None],
        )
        per_band.append(c)
    scores = lm.aggregate(per_band).reshape(len(i), -1).max(axis=1)
    best[i, j] = np.maximum(best[i, j], scores)


def _whole_map_scores(pa: lf.Parts, pb: lf.Parts) -> np.ndarray:
    """Best of the four whole-map framings for every pair, chunked over rows."""
    n, m = len(pa.f16), len(pb.f16)
    out = np.empty((n, m), np.float32)
    step = max(1, _CHUNK // (4 * m))
    for s in range(0, n, step):
        r = slice(s, s + step)
        out[r] = lm.whole_map_scores(
            (pa.full.take(r), pa.f12.take(r), pa.sq.take(r)), (pb.full, pb.f12, pb.sq)
        )
    return out


class LocalBackend:
    """Offline near-duplicate descriptor; see the module docstring."""

    name = "local"
    model = MODEL_ID
    dimensions = lf.DIMENSIONS
    input_side = 256
    batch_size = 64
    transparency = "visible"  # images.VISIBLE: a transparent image's shape is its picture
    default_threshold = 0.76
    # With verification the score only proposes: 0.5 lets through tone changes (brightness
    # x0.75-1.25, a tint) that the brightness maps punish (docs/verification.md).
    candidate_threshold = 0.5

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings

    def outdated_vectors_error(self, where: str) -> str | None:
        """Vectors of a new descriptor are cheap to make: the hook says to run `dupgate update`."""
        return None

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One L2-normalised float32 row per image (numpy + Pillow, no model)."""
        if not images:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        # numpy and Pillow release the GIL in the heavy parts, so threads use both cores.
        with ThreadPoolExecutor(_THREADS) as pool:
            rows = list(pool.map(lf.describe, images))
        return l2_normalise(np.stack(rows))

    def similarity(self, a: np.ndarray, b: np.ndarray, floor: float | None = None) -> np.ndarray:
        """Scores (len(a), len(b)) in [-1, 1]; the best over the framings described above.

        With `floor`, only scores >= floor are exact: a pair whose score is below it may
        get any lower value (at least its whole-map score). A caller that only keeps pairs
        at or above a threshold can pass it and skip most of the window work.
        """
        n, m = len(a), len(b)
        if n == 0 or m == 0:
            return np.zeros((n, m), dtype=np.float32)
        if a is b or n > _KERNEL_LIMIT or m <= _COLUMN_BLOCK:
            return _scores(a, b, floor, _THREADS)
        # The hook: few probes against many stored images. Most of the work is per stored
        # image (unpacking, window statistics), so blocks of columns keep it in cache, and
        # the two threads take a block each.
        out = np.empty((n, m), np.float32)
        count = -(-m // _COLUMN_BLOCK)
        count += -count % _THREADS  # equal shares for the threads
        step = -(-m // count)

        def run(start: int) -> None:
            out[:, start : start + step] = _scores(a, b[start : start + step], floor, 1)

        with ThreadPoolExecutor(_THREADS) as pool:
            list(pool.map(run, range(0, m, step)))
        return out

    def views(self, vectors: np.ndarray, queries_too: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Maps as index entries, maps and 5 windows as queries (see `local_pairs`)."""
        from dupgate_hook.backends import local_pairs

        return local_pairs.views(vectors, queries_too)

    def pair_scores(
        self, vectors: np.ndarray, first: np.ndarray, second: np.ndarray, floor: float | None = None
    ) -> np.ndarray:
        """`similarity` of chosen pairs only, grouped by image (see `local_pairs`)."""
        from dupgate_hook.backends import local_pairs

        return local_pairs.pair_scores(vectors, first, second, floor)


def _scores(a: np.ndarray, b: np.ndarray, floor: float | None, threads: int) -> np.ndarray:
    """`LocalBackend.similarity` of one block, its own work spread over `threads`."""
    n, m = len(a), len(b)
    same = a is b
    pa = lf.unpack(a)
    pb = pa if same else lf.unpack(b)
    best = _whole_map_scores(pa, pb)
    low = -np.inf if floor is None else floor
    _raise_by_windows(_Windows.of(pa, explicit=m > _KERNEL_LIMIT), _Maps.of(pb), best, low, threads)
    if same:  # windows of b against maps of a are the transpose of what was just done
        np.maximum(best, best.T.copy(), out=best)
    else:
        _raise_by_windows(_Windows.of(pb, explicit=n > _KERNEL_LIMIT), _Maps.of(pa), best.T, low, threads)
    # Only lowers scores, so pairs the floor let through are still scored exactly.
    best *= lm.colour_matrix(pa.rgb, pa.detail, pb.rgb, pb.detail)
    clipped: np.ndarray = np.clip(best, -1.0, 1.0)
    return clipped
