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
MIN_CELL = 3
CELLS_PER_SIDE = 24
EDGE_FLOOR = 0.025  # rms gradient (0..1 per pixel) that makes a cell informative
AGREE_COSINE = 0.5  # orientation agreement that makes an informative cell agree


@dataclass(frozen=True)
class CellMap:
    """Per-cell facts over the overlap, (rows, cols) each."""

    informative: np.ndarray  # bool
    agree: np.ndarray  # bool (only meaningful where informative)
    cosine: np.ndarray  # float32
    colour_gap: np.ndarray  # float32: mean absolute RGB difference, 0..1
    strength_a: np.ndarray  # float32: rms gradient of a in the cell (0..1 per pixel)
    strength_b: np.ndarray
    colour_a: np.ndarray | None = None  # float32 (rows, cols, 3): mean colour of the cell, 0..1
    colour_b: np.ndarray | None = None

    @property
    def cells(self) -> int:
        return int(self.informative.size)


def _cell_sums(x: np.ndarray, rows: int, cols: int, cell: int) -> np.ndarray:
    shaped = x[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell, *x.shape[2:])
    out: np.ndarray = shaped.sum(axis=(1, 3))
    return out


def cell_map(
    fa: Field, fb: Field, rgb_a: np.ndarray, rgb_b: np.ndarray, inside: np.ndarray | None = None
) -> CellMap:
    """Cells of two fields (and pictures) already cut to the same overlap rectangle; cells not
    wholly `inside` both pictures (a rotated overlap's corners) are not informative."""
    h, w = fa.shape
    # Small pictures get smaller cells (at least CELLS_PER_SIDE along the long side): an
    # animation frame of 80 pixels differs in details a third of an 8-pixel cell wide.
    cell = int(min(CELL, max(MIN_CELL, max(h, w) // CELLS_PER_SIDE), h, w))
    rows, cols = h // cell, w // cell
    ea = _cell_sums(fa.energy, rows, cols, cell) / (cell * cell)
    eb = _cell_sums(fb.energy, rows, cols, cell) / (cell * cell)
    inner = np.real(_cell_sums(fa.z * np.conj(fb.z), rows, cols, cell))
    na = _cell_sums(np.abs(fa.z) ** 2, rows, cols, cell)
    nb = _cell_sums(np.abs(fb.z) ** 2, rows, cols, cell)
    cosine = (inner / np.sqrt(na * nb + 1e-18)).astype(np.float32)
    strength_a, strength_b = np.sqrt(ea).astype(np.float32), np.sqrt(eb).astype(np.float32)
    informative = np.maximum(strength_a, strength_b) >= EDGE_FLOOR
    if inside is not None:
        informative &= _cell_sums(inside.astype(np.float32), rows, cols, cell) >= cell * cell
    colour_a = (_cell_sums(rgb_a, rows, cols, cell) / (cell * cell)).astype(np.float32)
    colour_b = (_cell_sums(rgb_b, rows, cols, cell) / (cell * cell)).astype(np.float32)
    gap = np.abs(colour_a - colour_b).mean(axis=2)
    return CellMap(
        informative, cosine >= AGREE_COSINE, cosine, gap, strength_a, strength_b, colour_a, colour_b
    )


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


def pieces(mask: np.ndarray) -> int:
    """Connected pieces of a boolean cell mask, cells one apart joined (8-neighbours after a
    one-cell dilation): the letters of one caption are one piece, two eyes are two."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    label = np.zeros(mask.shape, np.int32)
    count = 0
    for start in zip(*np.nonzero(grown), strict=True):
        if label[start]:
            continue
        count += 1
        stack = [start]
        label[start] = count
        while stack:
            r, c = stack.pop()
            for nr in range(max(0, r - 1), min(mask.shape[0], r + 2)):
                for nc in range(max(0, c - 1), min(mask.shape[1], c + 2)):
                    if grown[nr, nc] and not label[nr, nc]:
                        label[nr, nc] = count
                        stack.append((nr, nc))
    return count


def is_band(overlay: Overlay, cells: CellMap) -> bool:
    r0, c0, r1, c1 = overlay.box
    return overlay.cells > 0 and c0 == 0 and c1 == cells.informative.shape[1]


def _quadratic(rgb: np.ndarray) -> np.ndarray:
    """(n, 3) colours -> (n, 10): 1, r, g, b, and their products (a smooth colour map's basis)."""
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    one = np.ones_like(r)
    return np.stack([one, r, g, b, r * r, g * g, b * b, r * g, r * b, g * b], axis=1)


def colour_misfit(cells: CellMap, keep: np.ndarray) -> float:
    """How far one picture's cell colours are from any one smooth function of the other's
    (rms residual, 0..1), over the cells `keep`, the better of both directions.

    A recolour (hue, saturation, brightness, a channel swap, greyscale, inversion, a tint)
    applies one colour map to the whole picture, so one picture's colours predict the
    other's; two different pictures that share only their edges (a mosaic, a template in
    other colours) have colours no single map relates."""
    if cells.colour_a is None or cells.colour_b is None or keep.sum() < 12:
        return 0.0
    a = cells.colour_a[keep].astype(np.float64)
    b = cells.colour_b[keep].astype(np.float64)
    best = np.inf
    for x, y in ((a, b), (b, a)):
        basis = _quadratic(x)
        solution, *_ = np.linalg.lstsq(basis, y, rcond=None)
        best = min(best, float(np.sqrt(np.mean((basis @ solution - y) ** 2))))
    return best
