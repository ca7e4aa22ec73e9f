"""Windows of the `local` backend: 75% sub-frames of stored maps, without resampling.

A "window" of a stored image is a 12x12 sub-block of its 16x16 map, so no resampling is
needed at compare time. Its band statistics come from box sums over the raw map, and its
correlation with a few other maps can come from one matrix product of the raw maps against
those maps' bands placed at every window position (`window_kernels`), so the hook never has
to build the windows of ten thousand stored images. How the framings are combined, and the
bound that lets most window comparisons be skipped, is in `local`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dupgate_hook.backends.local_features import (
    BANDS,
    CELLS,
    EPS,
    GRID,
    N_WIN,
    OFFSETS,
    ROWS,
    SGRID,
    SPAN,
    WIN,
    Parts,
)


@dataclass(frozen=True)
class WindowStats:
    """Band tone and norm of the 25 windows of each image, band-major: (BANDS, n, N_WIN) float32.

    `inv_denom` is 1 / sqrt(|centred band|^2 + EPS): a window band's unit vector is
    (band - value) * inv_denom with flatness coordinate sqrt(EPS) * inv_denom.
    """

    value: np.ndarray
    sat: np.ndarray
    inv_denom: np.ndarray

    def ranges(self) -> tuple[np.ndarray, ...]:
        """Band-major (BANDS, n) lowest and highest window value, then sat, of each image."""
        out = []
        for x in (self.value, self.sat):
            # Windows first: the reductions are then elementwise over whole rows of n values
            # (a reduction over a last axis of 25 costs ~10x more per element).
            by_window = np.ascontiguousarray(x.transpose(0, 2, 1))
            out += [by_window.min(axis=1), by_window.max(axis=1)]
        return tuple(out)


def _interval_weights(lo: np.ndarray, hi: np.ndarray, cells: int, side: float) -> np.ndarray:
    """Weights (…, cells) of grid cells [j, j+1) * side/cells inside [lo, hi), summing to 1."""
    j = np.arange(cells) * (side / cells)
    overlap = np.clip(np.minimum(hi[..., None], j + side / cells) - np.maximum(lo[..., None], j), 0.0, None)
    weights: np.ndarray = overlap / overlap.sum(axis=-1, keepdims=True)
    return weights


def _window_sat_matrix() -> np.ndarray:
    """Linear map (64, N_WIN * BANDS) from an 8x8 saturation map to each window band's mean."""
    oy, ox, b = np.meshgrid(np.arange(OFFSETS), np.arange(OFFSETS), np.arange(BANDS), indexing="ij")
    rows_lo = (oy + b * ROWS).astype(np.float64)
    cols_lo = ox.astype(np.float64)
    wy = _interval_weights(rows_lo, rows_lo + ROWS, SGRID, GRID)
    wx = _interval_weights(cols_lo, cols_lo + WIN, SGRID, GRID)
    m: np.ndarray = np.einsum("...i,...j->...ij", wy, wx).reshape(N_WIN * BANDS, SGRID * SGRID)
    return m.T.astype(np.float32)


def _placements() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(window k, strip cell, band cell q) for every cell of every window band.

    Band b of window (oy, ox) covers rows ROWS*b + oy + r, columns ox + c of the map, so
    inside the strip of rows ROWS*b .. ROWS*b + SPAN - 1 its placement does not depend on b.
    """
    oy, ox, r, c = np.meshgrid(
        np.arange(OFFSETS), np.arange(OFFSETS), np.arange(ROWS), np.arange(WIN), indexing="ij"
    )
    return ((oy * OFFSETS + ox).ravel(), ((oy + r) * GRID + ox + c).ravel(), (r * WIN + c).ravel())


_WIN_SAT = _window_sat_matrix()
_PLACE_WIN, _PLACE_CELL, _PLACE_Q = _placements()
_FIRST_ROW = np.arange(OFFSETS)[:, None] + ROWS * np.arange(BANDS)[None, :]  # (oy, b)
_COL_BOX = (np.arange(GRID)[:, None] - np.arange(OFFSETS) >= 0) & (
    np.arange(GRID)[:, None] - np.arange(OFFSETS) < WIN
)  # (16, ox): column in window?


def _box_sums(x: np.ndarray) -> np.ndarray:
    """Sums of x (n, 16, 16) over every window band, band-major: (BANDS, n, N_WIN).

    One 2-D product for the column sums and three shifted adds for the row sums: numpy's
    stacked (3-D) products of tiny matrices cost ~10x more per element at 100,000 images.
    """
    n = len(x)
    across = (x.reshape(n * GRID, GRID) @ _COL_BOX.astype(x.dtype)).reshape(n, GRID, OFFSETS)
    strips = across[:, : GRID - ROWS + 1].copy()  # (n, first row, ox): sums over ROWS rows
    for r in range(1, ROWS):
        strips += across[:, r : GRID - ROWS + 1 + r]
    out = np.empty((BANDS, n, OFFSETS, OFFSETS), x.dtype)
    for b in range(BANDS):  # band b of window (oy, ox) starts at map row ROWS * b + oy
        out[b] = strips[:, ROWS * b : ROWS * b + OFFSETS]
    return out.reshape(BANDS, n, N_WIN)


def window_stats(parts: Parts) -> WindowStats:
    """Tone and norm of every window band, from box sums of the raw maps (no windows built)."""
    n = len(parts.f16)
    # float64 and centred per map: E[x^2] - E[x]^2 would cancel badly on faint textures.
    # x and x^2 side by side, so one product and one set of shifted adds serve both.
    both = np.empty((2 * n, GRID, GRID))
    x, x2 = both[:n], both[n:]
    x[...] = parts.f16
    level = x.mean(axis=(1, 2))
    x -= level[:, None, None]
    np.multiply(x, x, out=x2)
    sums = _box_sums(both)
    s1, s2 = sums[:, :n], sums[:, n:]
    spread = np.maximum(s2 - s1 * s1 / CELLS, 0.0)
    sat = (parts.s8.reshape(n, -1) @ _WIN_SAT).reshape(n, N_WIN, BANDS).transpose(2, 0, 1)
    return WindowStats(
        value=(s1 / CELLS + level[:, None]).astype(np.float32),
        sat=np.ascontiguousarray(sat),
        inv_denom=(1.0 / np.sqrt(spread + EPS)).astype(np.float32),
    )


def window_units(f16: np.ndarray, stats: WindowStats) -> np.ndarray:
    """Unit vectors of all windows, band-major: (BANDS, n, N_WIN, CELLS + 1) float32."""
    n = len(f16)
    strips = sliding_window_view(f16, (ROWS, WIN), axis=(1, 2))  # (n, row, ox, ROWS, WIN)
    w = strips[:, _FIRST_ROW].transpose(2, 0, 1, 3, 4, 5)  # (b, n, oy, ox, ROWS, WIN)
    out = np.empty((BANDS, n, N_WIN, CELLS + 1), np.float32)
    body = out[..., :CELLS]
    body[...] = w.reshape(BANDS, n, N_WIN, CELLS)
    body -= stats.value[..., None]
    body *= stats.inv_denom[..., None]
    out[..., CELLS] = np.sqrt(EPS) * stats.inv_denom
    return out


def window_kernels(units: np.ndarray) -> np.ndarray:
    """Band kernels (BANDS, SPAN * GRID, m * N_WIN) of m band-unit maps (m, BANDS, CELLS + 1).

    Column (j, k) of kernel b is band b of map j placed at window k inside the map strip of
    rows ROWS*b .., so strip @ kernel is the dot product of every window band with map j's
    band (windows last, so the best window is a reduction over a contiguous axis). Map bands
    are centred, so the window's own mean does not matter.
    """
    m = len(units)
    # Re-centre in float64: float32 rounding leaves the bands of a near-flat map summing to
    # ~1e-4, which the window's brightness level would otherwise turn into a visible error.
    body = units[..., :CELLS].astype(np.float64)
    body -= body.mean(axis=-1, keepdims=True)
    kern = np.zeros((BANDS, SPAN * GRID, m, N_WIN), np.float32)
    # Each band cell lands on one strip cell per window: a placement, not a sum.
    kern[:, _PLACE_CELL, :, _PLACE_WIN] = body.transpose(2, 1, 0)[_PLACE_Q]
    return kern.reshape(BANDS, SPAN * GRID, m * N_WIN)


def strip(flat: np.ndarray, band: int) -> np.ndarray:
    """The rows ROWS*band .. + SPAN of (n, GRID * GRID) maps, flattened: (n, SPAN * GRID) view."""
    return flat[:, ROWS * band * GRID : (ROWS * band + SPAN) * GRID]
