"""Descriptor and matching maths of the `local` backend (numpy + Pillow only).

Why this shape. Perceptual hashes compare one global thumbnail, so a crop, a banner or a
recolour moves them as far as a different picture does. Here every image keeps a few small
*brightness maps* plus coarse colour statistics, and two images are compared under several
geometric hypotheses, keeping the best:

* aligned: the whole frames (resize, re-compression, watermark, recolour, banner);
* window: a 75% window of one frame against the whole other frame, at 25 positions on a
  16x16 grid (a crop may keep any corner);
* square: the largest centred square of one frame against the other (square crops), and
  against the other's windows (two edits on one picture).

Brightness is V = max(R, G, B), which a hue rotation leaves unchanged. Each map is split
into four horizontal bands that are contrast-normalised and compared separately; the worst
band is dropped, so a banner or a caption over part of the picture does not sink the score,
and two unrelated pictures that merely share a banner do not match. Each band comparison is
weighted by how well the bands' mean brightness and saturation agree, which separates the
same texture printed in a different tone (a recolour keeps brightness and saturation).
Pictures with (almost) no structure, whose maps agree with anything flat, must also agree in
colour (`colour_agreement`, from the mean colour of 8 horizontal bands).

A "window" of a stored image is a 12x12 sub-block of its 16x16 map, so no resampling is
needed at compare time. Its band statistics come from box sums over the raw map, and its
correlation with a few other maps can come from one matrix product of the raw maps against
those maps' bands placed at every window position (`window_kernels`), so the hook never has
to build the windows of ten thousand stored images. How the framings are combined, and the
bound that lets most window comparisons be skipped, is in `local`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageChops

GRID = 16  # side of the full-frame brightness map
WIN = 12  # side of a window (75% of GRID) and of the other 12x12 maps
OFFSETS = GRID - WIN + 1  # window positions per axis
N_WIN = OFFSETS * OFFSETS
BANDS = 4
ROWS = WIN // BANDS  # map rows in one band of a 12x12 map or window
SPAN = ROWS + OFFSETS - 1  # map rows that band b of some window may cover (from ROWS * b)
SGRID = 8  # saturation map side (only band means of saturation are ever used)

# Layout of a stored vector (before L2 normalisation). The marker recovers the scale the
# normalisation applied, so brightness and saturation keep absolute units in [0, 1].
COLOUR_BANDS = 8  # horizontal bands whose mean colour is kept (see `colour_agreement`)
COLOUR_KEPT = 6  # the best-agreeing bands that count: a banner or caption may cover the rest
_LAYOUT = (
    ("marker", 1),
    ("f16", GRID * GRID),
    ("f12", WIN * WIN),
    ("sq", WIN * WIN),
    ("s8", SGRID * SGRID),
    ("sqs", BANDS),
    ("rgb", COLOUR_BANDS * 3),
)
DIMENSIONS = sum(size for _, size in _LAYOUT)

DARK = 0.25  # brightness below which saturation is damped (colour there is mostly noise)
FLAT_RMS = 0.002  # per-cell contrast (in 0..1 brightness) below which a band counts as flat
TONE_DEADZONE = 0.05  # brightness/saturation differences an edit may cause for free
TONE_SCALE = 0.10  # beyond the dead zone, the agreement falls off on this scale
CELLS = ROWS * WIN  # cells in one band of a 12x12 map or window
EPS = CELLS * FLAT_RMS**2  # flatness term of such a band (see `_band_unit`)
# Colour evidence (see `colour_agreement`). Chosen on the generated hard negatives (flat
# colours, gradients, blank and near-blank pictures) and the public set's faint paper textures.
DETAIL_FULL = 0.001  # detail (rms of f16 minus its 3x3 mean) from which structure alone decides
COLOUR_DEADZONE = 0.04  # mean-colour distance (0..1 RGB) that re-encoding and resizing cause
COLOUR_SCALE = 0.06  # beyond the dead zone, colour agreement falls off on this scale


def describe(img: Image.Image) -> np.ndarray:
    """The unnormalised descriptor of one RGB picture (see `_LAYOUT`)."""
    # Per-pixel max/min through Pillow: numpy reductions over a 3-wide axis are slow.
    r, g, b = img.convert("RGB").split()
    value = np.asarray(ImageChops.lighter(ImageChops.lighter(r, g), b), np.float32) / 255.0
    low = np.asarray(ImageChops.darker(ImageChops.darker(r, g), b), np.float32) / 255.0
    # Saturation with its denominator held at DARK or above: in the dark, (max - min) / max is
    # mostly JPEG chroma noise, and it made a re-compressed night sky look like another colour.
    sat = ((value - low) / np.maximum(value, DARK)).astype(np.float32)
    v_img = Image.fromarray(value, "F")
    s_img = Image.fromarray(sat, "F")
    w, h = v_img.size
    side = min(w, h)
    square = ((w - side) / 2.0, (h - side) / 2.0, (w + side) / 2.0, (h + side) / 2.0)

    def box(
        im: Image.Image, size: tuple[int, int], region: tuple[float, float, float, float] | None = None
    ) -> np.ndarray:
        out = im.resize(size, Image.Resampling.BOX, box=region)
        return np.asarray(out, dtype=np.float32).reshape(-1)

    parts = [
        np.ones(1, np.float32),
        box(v_img, (GRID, GRID)),
        box(v_img, (WIN, WIN)),
        box(v_img, (WIN, WIN), square),
        box(s_img, (SGRID, SGRID)),
        box(s_img, (1, BANDS), square),
        box(img.convert("RGB"), (1, COLOUR_BANDS)) / 255.0,
    ]
    return np.concatenate(parts)


@dataclass(frozen=True)
class Bands:
    """Band-normalised maps: unit vectors (n, [K,] BANDS, d + 1) and band tone (…, BANDS).

    The last coordinate of each unit vector is the band's "flatness": two flat bands
    compare as 1.0 and a flat band against a textured one as about 0.
    """

    unit: np.ndarray
    value: np.ndarray
    sat: np.ndarray

    def take(self, rows: slice | np.ndarray) -> Bands:
        """The bands of some images (a slice is a view, an index array a copy)."""
        return Bands(self.unit[rows], self.value[rows], self.sat[rows])


@dataclass(frozen=True)
class Parts:
    f16: np.ndarray  # (n, 16, 16)
    f12: Bands
    sq: Bands
    full: Bands  # bands of f16
    s8: np.ndarray  # (n, 8, 8)
    rgb: np.ndarray  # (n, COLOUR_BANDS, 3) mean colour of each horizontal band, 0..1
    detail: np.ndarray  # (n,) see `detail`


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


def _band_unit(maps: np.ndarray, sat: np.ndarray) -> Bands:
    """Split contiguous (…, g, g) maps into horizontal bands; centre and normalise each band.

    2-D products over all bands at once: reductions over a short last axis, and stacked
    (3-D) products, are slow in numpy.
    """
    shape = maps.shape
    x = maps.reshape(-1, shape[-2] * shape[-1] // BANDS)
    d = x.shape[-1]
    ones = np.full(d, 1.0 / d, np.float32)
    mean = x @ ones
    unit = np.empty((len(x), d + 1), np.float32)
    body = unit[:, :d]
    np.subtract(x, mean[:, None], out=body)
    eps = d * FLAT_RMS**2
    inv = np.square(body) @ (ones * d)
    inv += eps
    np.sqrt(inv, out=inv)
    np.divide(1.0, inv, out=inv)
    body *= inv[:, None]
    unit[:, d] = np.sqrt(eps) * inv
    lead = (*shape[:-2], BANDS)
    return Bands(unit.reshape(*lead, d + 1), mean.reshape(lead), sat.astype(np.float32))


def raw_fields(vectors: np.ndarray) -> dict[str, np.ndarray]:
    """The raw fields of stored (possibly float16, L2-normalised) vectors, in 0..1 units."""
    n = len(vectors)
    marker = vectors[:, :1].astype(np.float32)
    scale = np.where(np.abs(marker) > 1e-6, marker, np.float32(1.0))
    out: dict[str, np.ndarray] = {}
    start = 0
    for name, size in _LAYOUT:  # each field widened into a contiguous array of its own
        field = np.empty((n, size), np.float32)
        field[...] = vectors[:, start : start + size]
        field /= scale
        out[name] = field
        start += size
    return out


def unpack(vectors: np.ndarray) -> Parts:
    """Stored (possibly float16, L2-normalised) vectors back into maps in 0..1 units."""
    n = len(vectors)
    fields = raw_fields(vectors)
    f16 = fields["f16"].reshape(n, GRID, GRID)
    s8 = fields["s8"].reshape(n, SGRID, SGRID)
    s_rows = s8.reshape(n, BANDS, -1).mean(axis=-1)  # full-frame bands of saturation
    return Parts(
        f16=f16,
        f12=_band_unit(fields["f12"].reshape(n, WIN, WIN), s_rows),
        sq=_band_unit(fields["sq"].reshape(n, WIN, WIN), fields["sqs"]),
        full=_band_unit(f16, s_rows),
        s8=s8,
        rgb=fields["rgb"].reshape(n, COLOUR_BANDS, 3),
        detail=detail(f16),
    )


def detail(f16: np.ndarray) -> np.ndarray:
    """How much structure (n, 16, 16) maps hold: rms of each inner cell minus its 3x3 mean.

    Flat colours, blank pictures and smooth gradients have (almost) none (a linear ramp has
    exactly none: inner cells only, no padding), and their maps agree with each other's
    whatever they show: for them, colour has to agree too.
    """
    inner = GRID - 2
    local_mean = sum(f16[:, i : i + inner, j : j + inner] for i in range(3) for j in range(3)) / 9.0
    residual = f16[:, 1:-1, 1:-1] - local_mean
    rms: np.ndarray = np.sqrt(np.mean(np.square(residual), axis=(1, 2)))
    return rms.astype(np.float32)


def colour_agreement(
    rgb_a: np.ndarray, detail_a: np.ndarray, rgb_b: np.ndarray, detail_b: np.ndarray
) -> np.ndarray:
    """Factor in [0, 1] on a pair's score: how far colour must agree, given their structure.

    A recolour is a near-duplicate only because its structure survives; with little structure
    (the less detailed of the two decides) the colour *is* the picture, so a red and a yellow
    square do not match while a pale-blue background exported twice does. Colour is compared
    band by band (rows of the frame), the worst-agreeing bands left out, so a banner does not
    count as a change of colour. Arguments broadcast: (n, 1, BANDS, 3)/(n, 1) against
    (1, m, BANDS, 3)/(1, m) gives (n, m); aligned (p, BANDS, 3)/(p,) give (p,).
    """
    per_band = np.sqrt(np.sum(np.square(rgb_a - rgb_b), axis=-1))
    kept = np.partition(per_band, COLOUR_KEPT - 1, axis=-1)[..., :COLOUR_KEPT]
    excess = np.maximum(kept.mean(axis=-1) - COLOUR_DEADZONE, 0.0) / COLOUR_SCALE
    agreement = np.exp(-np.square(excess))
    need = np.clip(1.0 - np.minimum(detail_a, detail_b) / DETAIL_FULL, 0.0, 1.0)
    factor: np.ndarray = (agreement**need).astype(np.float32)
    return factor


def colour_matrix(
    rgb_a: np.ndarray, detail_a: np.ndarray, rgb_b: np.ndarray, detail_b: np.ndarray
) -> np.ndarray:
    """`colour_agreement` of every pair (n, m), worked out only where it can be below 1.

    Only pairs with a picture below DETAIL_FULL need colour; in most repositories those are
    few, and an (n, m, bands, 3) difference for all pairs of an audit block would be hundreds
    of megabytes. Rows are taken a few at a time so memory stays small whatever the block.
    """
    out = np.ones((len(rgb_a), len(rgb_b)), np.float32)
    low_a, low_b = detail_a < DETAIL_FULL, detail_b < DETAIL_FULL
    # Rows of low-detail images against every column, then the other rows against low columns.
    for rows, cols in (
        (np.nonzero(low_a)[0], np.arange(len(rgb_b))),
        (np.nonzero(~low_a)[0], np.nonzero(low_b)[0]),
    ):
        if not len(rows) or not len(cols):
            continue
        for start in range(0, len(rows), 64):
            r = rows[start : start + 64]
            out[np.ix_(r, cols)] = colour_agreement(
                rgb_a[r, None], detail_a[r, None], rgb_b[None, cols], detail_b[None, cols]
            )
    return out


def colour_pairs(rgb: np.ndarray, detail: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """`colour_agreement` of the pairs (first[p], second[p]), as `colour_matrix` does it: only
    where a picture is below DETAIL_FULL, in chunks (an approximate audit scores millions)."""
    out = np.ones(len(first), np.float32)
    need = np.nonzero(np.minimum(detail[first], detail[second]) < DETAIL_FULL)[0]
    for start in range(0, len(need), 65536):
        p = need[start : start + 65536]
        a, b = first[p], second[p]
        out[p] = colour_agreement(rgb[a], detail[a], rgb[b], detail[b])
    return out


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


def tone(dv: np.ndarray, ds: np.ndarray) -> np.ndarray:
    """Agreement in [0, 1] of band brightness and saturation (1 within the dead zone)."""
    ev = np.maximum(np.abs(dv) - TONE_DEADZONE, 0.0)
    es = np.maximum(np.abs(ds) - TONE_DEADZONE, 0.0)
    agreement: np.ndarray = np.exp(-(ev * ev + es * es) / TONE_SCALE**2)
    return agreement


def tone_gap(lo: np.ndarray, hi: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Squared excess, beyond the dead zone, of x's distance to [lo, hi] (broadcast)."""
    gap: np.ndarray = np.maximum(np.maximum(lo - x, x - hi), 0.0)
    gap -= TONE_DEADZONE
    np.maximum(gap, 0.0, out=gap)
    gap *= gap
    return gap


def aggregate(per_band: list[np.ndarray]) -> np.ndarray:
    """Mean over bands without the worst one: one occluded band cannot veto a match."""
    total: np.ndarray = per_band[0] + per_band[1]
    worst = np.minimum(per_band[0], per_band[1])
    for x in per_band[2:]:
        total += x
        np.minimum(worst, x, out=worst)
    total -= worst
    total *= 1.0 / (len(per_band) - 1)
    return total


def aggregate_last(cos: np.ndarray) -> np.ndarray:
    """`aggregate` over a trailing band axis."""
    kept: np.ndarray = (cos.sum(axis=-1) - cos.min(axis=-1)) / (cos.shape[-1] - 1)
    return kept


def whole_map_scores(
    x: tuple[Bands, Bands, Bands],
    y: tuple[Bands, Bands, Bands],
    score: Callable[[Bands, Bands], np.ndarray] | None = None,
) -> np.ndarray:
    """Best of the four whole-map framings of (full, f12, sq) maps: frame vs frame, square vs
    frame, frame vs square, square vs square. `score` compares two maps (`band_scores`)."""
    score = score or band_scores
    (x_full, x_f12, x_sq), (y_full, y_f12, y_sq) = x, y
    best = score(x_full, y_full)
    for a, b in ((x_sq, y_f12), (x_f12, y_sq), (x_sq, y_sq)):
        np.maximum(best, score(a, b), out=best)
    return best


def band_scores(x: Bands, y: Bands) -> np.ndarray:
    """Scores (n, m) between one map per image on each side (rows of x can be chunked)."""
    per_band = []
    for b in range(BANDS):
        cos = x.unit[:, b] @ y.unit[:, b].T
        cos *= tone(x.value[:, b, None] - y.value[None, :, b], x.sat[:, b, None] - y.sat[None, :, b])
        per_band.append(cos)
    return aggregate(per_band)
