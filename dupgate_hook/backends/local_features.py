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

A "window" of a stored image is a 12x12 sub-block of its 16x16 map, so no resampling is
needed at compare time, and its correlation with a probe can be computed with one matrix
product against the stored maps (`_window_scores_by_kernels`), which keeps the hook's
one-against-ten-thousand comparison in a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageChops

GRID = 16  # side of the full-frame brightness map
WIN = 12  # side of a window (75% of GRID) and of the other 12x12 maps
OFFSETS = GRID - WIN + 1  # window positions per axis
N_WIN = OFFSETS * OFFSETS
BANDS = 4
SGRID = 8  # saturation map side (only band means of saturation are ever used)

# Layout of a stored vector (before L2 normalisation). The marker recovers the scale the
# normalisation applied, so brightness and saturation keep absolute units in [0, 1].
_LAYOUT = (("marker", 1), ("f16", GRID * GRID), ("f12", WIN * WIN), ("sq", WIN * WIN),
           ("s8", SGRID * SGRID), ("sqs", BANDS))
DIMENSIONS = sum(size for _, size in _LAYOUT)

FLAT_RMS = 0.002  # per-cell contrast (in 0..1 brightness) below which a band counts as flat
TONE_DEADZONE = 0.05  # brightness/saturation differences an edit may cause for free
TONE_SCALE = 0.10  # beyond the dead zone, the agreement falls off on this scale
CHUNK_ELEMENTS = 4_000_000  # bound on the size of intermediate score tensors


def describe(img: Image.Image) -> np.ndarray:
    """The unnormalised descriptor of one RGB picture (see `_LAYOUT`)."""
    # Per-pixel max/min through Pillow: numpy reductions over a 3-wide axis are slow.
    r, g, b = img.convert("RGB").split()
    value = np.asarray(ImageChops.lighter(ImageChops.lighter(r, g), b), np.float32) / 255.0
    low = np.asarray(ImageChops.darker(ImageChops.darker(r, g), b), np.float32) / 255.0
    sat = np.where(value > 0, (value - low) / np.maximum(value, 1e-3), 0.0).astype(np.float32)
    v_img = Image.fromarray(value, "F")
    s_img = Image.fromarray(sat, "F")
    w, h = v_img.size
    side = min(w, h)
    square = ((w - side) / 2.0, (h - side) / 2.0, (w + side) / 2.0, (h + side) / 2.0)

    def box(im: Image.Image, size: tuple[int, int],
            region: tuple[float, float, float, float] | None = None) -> np.ndarray:
        out = im.resize(size, Image.Resampling.BOX, box=region)
        return np.asarray(out, dtype=np.float32).reshape(-1)

    parts = [
        np.ones(1, np.float32),
        box(v_img, (GRID, GRID)),
        box(v_img, (WIN, WIN)),
        box(v_img, (WIN, WIN), square),
        box(s_img, (SGRID, SGRID)),
        box(s_img, (1, BANDS), square),
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


@dataclass(frozen=True)
class Parts:
    f16: np.ndarray  # (n, 16, 16)
    f12: Bands
    sq: Bands
    full: Bands  # bands of f16
    s8: np.ndarray  # (n, 8, 8)


def _band_unit(maps: np.ndarray, sat: np.ndarray) -> Bands:
    """Split (…, g, g) maps into horizontal bands; centre and normalise each band."""
    shape = maps.shape
    x = maps.reshape(*shape[:-2], BANDS, -1)
    mean = x.mean(axis=-1)
    x = x - mean[..., None]
    eps = x.shape[-1] * FLAT_RMS**2
    denom = np.sqrt((x * x).sum(axis=-1, keepdims=True) + eps)
    unit = np.concatenate([x / denom, np.sqrt(eps) / denom], axis=-1)
    return Bands(unit.astype(np.float32), mean.astype(np.float32), sat.astype(np.float32))


def unpack(vectors: np.ndarray) -> Parts:
    """Stored (possibly float16, L2-normalised) vectors back into maps in 0..1 units."""
    v = np.asarray(vectors, dtype=np.float32)
    scale = np.where(np.abs(v[:, :1]) > 1e-6, v[:, :1], np.float32(1.0))
    v = (v / scale).astype(np.float32)
    fields: dict[str, np.ndarray] = {}
    start = 0
    for name, size in _LAYOUT:
        fields[name] = v[:, start:start + size]
        start += size
    n = len(v)
    f16 = fields["f16"].reshape(n, GRID, GRID)
    s8 = fields["s8"].reshape(n, SGRID, SGRID)
    s_rows = s8.reshape(n, BANDS, -1).mean(axis=-1)  # full-frame bands of saturation
    return Parts(
        f16=f16,
        f12=_band_unit(fields["f12"].reshape(n, WIN, WIN), s_rows),
        sq=_band_unit(fields["sq"].reshape(n, WIN, WIN), fields["sqs"]),
        full=_band_unit(f16, s_rows),
        s8=s8,
    )


def _interval_weights(lo: np.ndarray, hi: np.ndarray, cells: int, side: float) -> np.ndarray:
    """Weights (…, cells) of grid cells [j, j+1) * side/cells inside [lo, hi), summing to 1."""
    j = np.arange(cells) * (side / cells)
    overlap = np.clip(np.minimum(hi[..., None], j + side / cells) - np.maximum(lo[..., None], j),
                      0.0, None)
    weights: np.ndarray = overlap / overlap.sum(axis=-1, keepdims=True)
    return weights


def _window_matrices() -> tuple[np.ndarray, np.ndarray]:
    """Linear maps from a 16x16 map / 8x8 saturation map to the band means of each window."""
    oy, ox, b = np.meshgrid(np.arange(OFFSETS), np.arange(OFFSETS), np.arange(BANDS),
                            indexing="ij")
    rows_lo = (oy + b * (WIN // BANDS)).astype(np.float64)
    rows_hi = rows_lo + WIN // BANDS
    cols_lo = ox.astype(np.float64)
    cols_hi = cols_lo + WIN
    mats = []
    for cells in (GRID, SGRID):
        wy = _interval_weights(rows_lo, rows_hi, cells, GRID)
        wx = _interval_weights(cols_lo, cols_hi, cells, GRID)
        m = np.einsum("...i,...j->...ij", wy, wx).reshape(N_WIN * BANDS, cells * cells)
        mats.append(m.T.astype(np.float32))
    return mats[0], mats[1]


_WIN_MEAN, _WIN_SAT = _window_matrices()


def windows(parts: Parts) -> Bands:
    """The 25 materialised 12x12 windows of each image, band-normalised: (n, 25, BANDS, …)."""
    n = len(parts.f16)
    w = sliding_window_view(parts.f16, (WIN, WIN), axis=(1, 2)).reshape(n, N_WIN, WIN, WIN)
    sat = (parts.s8.reshape(n, -1) @ _WIN_SAT).reshape(n, N_WIN, BANDS)
    return _band_unit(np.ascontiguousarray(w), sat)


def tone(dv: np.ndarray, ds: np.ndarray) -> np.ndarray:
    """Agreement in [0, 1] of band brightness and saturation (1 within the dead zone)."""
    ev = np.maximum(np.abs(dv) - TONE_DEADZONE, 0.0)
    es = np.maximum(np.abs(ds) - TONE_DEADZONE, 0.0)
    agreement: np.ndarray = np.exp(-(ev * ev + es * es) / TONE_SCALE**2)
    return agreement


def _aggregate(cos: np.ndarray) -> np.ndarray:
    """Mean over bands without the worst one: one occluded band cannot veto a match."""
    kept: np.ndarray = (cos.sum(axis=-1) - cos.min(axis=-1)) / (cos.shape[-1] - 1)
    return kept


def band_scores(x: Bands, y: Bands) -> np.ndarray:
    """Scores (n, m) between one map per image on each side."""
    cos = np.einsum("ibd,jbd->ijb", x.unit, y.unit, optimize=True)
    t = tone(x.value[:, None] - y.value[None], x.sat[:, None] - y.sat[None])
    return _aggregate(cos * t)


def window_scores(win: Bands, y: Bands) -> np.ndarray:
    """max over windows k of score(window k of x_i, map of y_j): (n, m), chunked over n."""
    n, m = win.unit.shape[0], y.unit.shape[0]
    out = np.empty((n, m), np.float32)
    step = max(1, CHUNK_ELEMENTS // max(1, m * N_WIN * BANDS))
    yt = y.unit.transpose(1, 2, 0)  # (BANDS, d, m)
    for s in range(0, n, step):
        u = win.unit[s:s + step]  # (c, K, B, d)
        cos = np.einsum("ckbd,bdj->ckjb", u, yt, optimize=True)
        t = tone(win.value[s:s + step, :, None] - y.value[None, None],
                 win.sat[s:s + step, :, None] - y.sat[None, None])
        out[s:s + step] = _aggregate(cos * t).max(axis=1)
    return out


def window_scores_by_kernels(x: Bands, parts: Parts) -> np.ndarray:
    """Scores (n, m): map of x_i against the best window of image j, without building windows.

    The band vectors of x are zero-mean, so their dot product with a window band equals the
    dot product of the band placed at the window's position on a 16x16 canvas with the raw
    16x16 map; all windows of all images then come out of one matrix product. Window band
    norms and tones are linear (or quadratic) in the map and come from fixed matrices.
    """
    n, m = x.unit.shape[0], parts.f16.shape[0]
    rows = WIN // BANDS
    kern = np.zeros((n, OFFSETS, OFFSETS, BANDS, GRID, GRID), np.float32)
    body = x.unit[..., :-1].reshape(n, BANDS, rows, WIN)
    for oy in range(OFFSETS):
        for ox in range(OFFSETS):
            for b in range(BANDS):
                r = oy + b * rows
                kern[:, oy, ox, b, r:r + rows, ox:ox + WIN] = body[:, b]
    kern2 = kern.reshape(n * N_WIN * BANDS, GRID * GRID)
    # Centre each map first: E[x^2] - E[x]^2 in float32 cancels badly on faint textures.
    flat = parts.f16.reshape(m, -1)
    level = flat.mean(axis=1, keepdims=True)
    flat = flat - level
    centred_mean = flat @ _WIN_MEAN  # (m, K*B)
    sq = (flat * flat) @ _WIN_MEAN
    cells = rows * WIN
    cnorm2 = np.maximum(cells * (sq - centred_mean * centred_mean), 0.0)
    mean = centred_mean + level
    eps = cells * FLAT_RMS**2
    denom = np.sqrt(cnorm2 + eps)
    sat = (parts.s8.reshape(m, -1) @ _WIN_SAT).reshape(m, N_WIN, BANDS)
    mean = mean.reshape(m, N_WIN, BANDS)
    denom = denom.reshape(m, N_WIN, BANDS)
    out = np.empty((n, m), np.float32)
    step = max(1, CHUNK_ELEMENTS // max(1, n * N_WIN * BANDS))
    for s in range(0, m, step):
        num = (flat[s:s + step] @ kern2.T).reshape(-1, n, N_WIN, BANDS)
        d = denom[s:s + step, None]
        cos = num / d + x.unit[None, :, None, :, -1] * (np.sqrt(eps) / d)
        t = tone(x.value[None, :, None] - mean[s:s + step, None],
                 x.sat[None, :, None] - sat[s:s + step, None])
        out[:, s:s + step] = _aggregate(cos * t).max(axis=2).T
    return out
