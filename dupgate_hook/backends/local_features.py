"""The `local` backend's descriptor: what is stored per image, and reading it back.

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
colour (`local_match.colour_agreement`, from the mean colour of 8 horizontal bands).

This module is the first half of the flow, image -> stored vector -> maps (`describe`,
`unpack`); `local_windows` derives the 75% windows from the stored maps, `local_match` scores
maps against each other, and `local` searches the framings. All numpy + Pillow only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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
COLOUR_BANDS = 8  # horizontal bands whose mean colour is kept (see `local_match.colour_agreement`)
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
CELLS = ROWS * WIN  # cells in one band of a 12x12 map or window
EPS = CELLS * FLAT_RMS**2  # flatness term of such a band (see `_band_unit`)


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
