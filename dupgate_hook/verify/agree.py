"""Does fine structure agree over the overlap of two aligned pictures? Cell by cell.

The overlap is cut into square cells. A cell is *informative* when either picture has an edge
in it well above JPEG noise; an informative cell *agrees* when the two orientation fields in
it point the same way (their normalised inner product), whatever the colours. Flat cells say
nothing and are not counted. Disagreeing cells are then asked whether one overlay explains
them (a banner, a watermark, a logo: one rectangle), and the colour of the cells is compared
for pictures with too little structure to decide on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dupgate_hook.verify.fields import Field

CELL = 8  # pixels of the fine working picture per cell side
EDGE_FLOOR = 0.025  # rms gradient (0..1 per pixel) that makes a cell informative
AGREE_COSINE = 0.5  # orientation agreement that makes an informative cell agree


@dataclass(frozen=True)
class CellMap:
    """Per-cell facts over the overlap, (rows, cols) each."""

    informative: np.ndarray  # bool
    agree: np.ndarray  # bool (only meaningful where informative)
    cosine: np.ndarray  # float32
    colour_gap: np.ndarray  # float32: mean absolute RGB difference, 0..1

    @property
    def cells(self) -> int:
        return int(self.informative.size)


def _cell_sums(x: np.ndarray, rows: int, cols: int, cell: int) -> np.ndarray:
    shaped = x[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell, *x.shape[2:])
    out: np.ndarray = shaped.sum(axis=(1, 3))
    return out


def cell_map(fa: Field, fb: Field, rgb_a: np.ndarray, rgb_b: np.ndarray) -> CellMap:
    """Cells of two fields (and pictures) already cut to the same overlap rectangle."""
    h, w = fa.shape
    cell = min(CELL, h, w)  # a tiny overlap is one cell
    rows, cols = h // cell, w // cell
    ea = _cell_sums(fa.energy, rows, cols, cell) / (cell * cell)
    eb = _cell_sums(fb.energy, rows, cols, cell) / (cell * cell)
    inner = np.real(_cell_sums(fa.z * np.conj(fb.z), rows, cols, cell))
    na = _cell_sums(np.abs(fa.z) ** 2, rows, cols, cell)
    nb = _cell_sums(np.abs(fb.z) ** 2, rows, cols, cell)
    cosine = (inner / np.sqrt(na * nb + 1e-18)).astype(np.float32)
    informative = np.sqrt(np.maximum(ea, eb)) >= EDGE_FLOOR
    gap = np.abs(_cell_sums(rgb_a, rows, cols, cell) - _cell_sums(rgb_b, rows, cols, cell)).mean(axis=2) / (
        cell * cell
    )
    return CellMap(informative, cosine >= AGREE_COSINE, cosine, gap.astype(np.float32))


BANNER_MAX = 0.3  # share of the overlap a banner (a band across the whole width) may cover
BLOB_MAX = 0.08  # share of the overlap any other overlay (a watermark, a logo) may cover
_COVER_PENALTY = 2.0  # an agreeing cell inside the overlay costs this many disagreeing ones


@dataclass(frozen=True)
class Overlay:
    """The rectangle of cells (r0, c0, r1, c1), end exclusive, that best explains the
    disagreement as one overlay; empty (0, 0, 0, 0) when there is nothing to explain."""

    box: tuple[int, int, int, int]

    @property
    def cells(self) -> int:
        r0, c0, r1, c1 = self.box
        return (r1 - r0) * (c1 - c0)

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        m = np.zeros(shape, bool)
        r0, c0, r1, c1 = self.box
        m[r0:r1, c0:c1] = True
        return m


def best_overlay(cells: CellMap) -> Overlay:
    """The overlay that holds the most disagreement: a band across the full width of at most
    BANNER_MAX of the cells, or any rectangle of at most BLOB_MAX. Each disagreeing
    informative cell counts +1, each agreeing one -_COVER_PENALTY. Every rectangle is scored
    at once from 2-D prefix sums (a 24 x 24 grid has ~90,000)."""
    value = np.where(cells.informative, np.where(cells.agree, -_COVER_PENALTY, 1.0), 0.0)
    rows, cols = value.shape
    prefix = np.zeros((rows + 1, cols + 1))
    prefix[1:, 1:] = value.cumsum(0).cumsum(1)
    r0, r1 = np.triu_indices(rows + 1, 1)  # row spans [r0, r1)
    c0, c1 = np.triu_indices(cols + 1, 1)
    total = (
        prefix[r1[:, None], c1[None, :]]
        - prefix[r0[:, None], c1[None, :]]
        - prefix[r1[:, None], c0[None, :]]
        + prefix[r0[:, None], c0[None, :]]
    )
    area = (r1 - r0)[:, None] * (c1 - c0)[None, :]
    band = (c0 == 0) & (c1 == cols)
    limit = np.where(band[None, :], BANNER_MAX, BLOB_MAX) * rows * cols
    total[area > limit] = -np.inf
    i, j = np.unravel_index(int(np.argmax(total)), total.shape)
    if not total[i, j] > 0:
        return Overlay((0, 0, 0, 0))
    return Overlay((int(r0[i]), int(c0[j]), int(r1[i]), int(c1[j])))
