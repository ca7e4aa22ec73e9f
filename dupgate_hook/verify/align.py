"""Find how one picture sits in the other: a scale and a shift (crop, border, letterbox).

Masked normalised cross-correlation of the two orientation fields over every shift at once,
by FFT (Padfield, "Masked Object Registration in the Fourier Domain", IEEE TIP 2012): each
shift is scored on its own overlap only, with the means and variances of that overlap, so a
small overlap of strong edges does not beat the true, larger one (raw correlation does).
Scales are searched on a coarse grid of small pictures, then the best few are refined on
larger ones around their coarse shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from dupgate_hook.verify.fields import compressed, structure_field

# Relative scales searched (b's pixels -> a's, both at the same working long side): from a
# picture letterboxed into one 2.5x its long side to a crop of 40% of it (a square out of a
# 2.5:1 panorama).
SCALE_MIN, SCALE_MAX, SCALE_STEP = 0.4, 2.5, 1.07
MIN_OVERLAP = 0.55  # of the smaller picture's area: a shift must show most of one picture
COARSE_SIDE = 48
HYPOTHESES = 3
FAIR_SHARE = 0.1  # of a field's mean structure per pixel, that an overlap must hold
RIM = 2  # pixels: the reach of the two blurs in fields.structure_field


@dataclass(frozen=True)
class Placement:
    """b's working pixel (x, y) lies at a's working pixel (scale * x + dx, scale * y + dy)."""

    scale: float
    dx: float
    dy: float
    ncc: float
    # Where the moving picture's centre lies in the fixed one, as fractions of its size (the
    # fixed picture is a when scale <= 1): the point a small change of scale leaves in place.
    centre: tuple[float, float] = (0.5, 0.5)


def resized(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """uint8 RGB -> float32 RGB in 0..1 at (height, width), area-averaged when shrinking."""
    img = Image.fromarray(rgb)
    if (img.width, img.height) != (width, height):
        shrink = width <= img.width and height <= img.height
        img = img.resize((width, height), Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


def working_size(rgb: np.ndarray, side: float) -> tuple[int, int]:
    """(width, height) with the long side `side`, aspect kept, at least 4 px each way."""
    h, w = rgb.shape[:2]
    k = side / max(h, w)
    return max(4, round(w * k)), max(4, round(h * k))


def _fast(n: int) -> int:
    """The next size numpy's FFT handles quickly (2^a 3^b 5^c)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


class Spectra:
    """The FFTs of one fixed field that every placement over it reuses, for moving fields
    of up to `room` pixels each way (fixed + room - 1 pixels of padding: no wrap-around)."""

    def __init__(self, fixed: np.ndarray, room: tuple[int, int]) -> None:
        fh, fw = fixed.shape
        self.fixed_shape = (fh, fw)
        self.shape = (_fast(fh + room[0] - 1), _fast(fw + room[1] - 1))
        ones = np.zeros(self.shape, np.float32)
        ones[:fh, :fw] = 1
        self.field = np.fft.fft2(fixed, self.shape)
        self.power = np.fft.fft2(np.abs(fixed) ** 2, self.shape)
        self.ones = np.fft.fft2(ones)
        self.energy = float(np.mean(np.abs(fixed) ** 2))  # per pixel, over the whole field


def ncc_map(spectra: Spectra, moving: np.ndarray, min_overlap: float, rim: int = RIM) -> np.ndarray:
    """NCC of `moving` placed at every offset (dy, dx) over the fixed field; -inf where the
    overlap is under `min_overlap` pixels. Index [dy mod H', dx mod W'] of an (H', W') array.

    The moving picture's outer `rim` pixels are left out: where it meets a border, a
    letterbox or the rest of a picture it was cropped from, the fixed field there holds an
    edge the moving one cannot have, which would pull the best shift inwards."""
    shape = spectra.shape
    mh, mw = moving.shape
    rim = rim if min(mh, mw) > 4 * rim + 4 else 0
    ones_m = np.zeros(shape, np.float32)
    ones_m[rim : mh - rim, rim : mw - rim] = 1
    moving = moving * ones_m[:mh, :mw]
    fft, ifft = np.fft.fft2, np.fft.ifft2
    c_mov, c_pow, c_one = (
        np.conj(fft(moving, shape)),
        np.conj(fft(np.abs(moving) ** 2, shape)),
        np.conj(fft(ones_m)),
    )
    n = np.real(ifft(spectra.ones * c_one))
    sum_f = ifft(spectra.field * c_one)  # sum of fixed over each overlap
    sum_m = np.conj(ifft(spectra.ones * c_mov))  # sum of moving over each overlap
    q_f = np.real(ifft(spectra.power * c_one))
    q_m = np.real(ifft(spectra.ones * c_pow))
    cross = ifft(spectra.field * c_mov)
    n_safe = np.maximum(n, 1.0)
    cov = np.real(cross - sum_f * np.conj(sum_m) / n_safe)
    var_f = np.maximum(q_f - np.abs(sum_f) ** 2 / n_safe, 0)
    var_m = np.maximum(q_m - np.abs(sum_m) ** 2 / n_safe, 0)
    ncc = cov / np.sqrt(var_f * var_m + 1e-12)
    # An overlap must hold a fair share of both pictures' structure: two nearly flat patches
    # correlate as well as anything, on almost nothing.
    energy_m = float(np.mean(np.abs(moving) ** 2))
    thin = (var_f < FAIR_SHARE * spectra.energy * n) | (var_m < FAIR_SHARE * energy_m * n)
    ncc[(n < min_overlap - 0.5) | thin] = -np.inf
    out: np.ndarray = ncc
    return out


def _field_at(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    return compressed(structure_field(resized(rgb, width, height)))


class Search:
    """Placements of b over a at one working size; the fixed fields' spectra made once."""

    def __init__(self, a: np.ndarray, b: np.ndarray, side: float) -> None:
        self.a, self.b, self.side = a, b, side
        self.a_size, self.b_size = working_size(a, side), working_size(b, side)
        self._spectra: dict[bool, Spectra] = {}

    def _fixed(self, a_fixed: bool) -> Spectra:
        if a_fixed not in self._spectra:
            (w, h), pic = (self.a_size, self.a) if a_fixed else (self.b_size, self.b)
            (ow, oh) = self.b_size if a_fixed else self.a_size
            self._spectra[a_fixed] = Spectra(_field_at(pic, w, h), (oh, ow))
        return self._spectra[a_fixed]

    def ncc(self, scale: float) -> tuple[np.ndarray, Spectra, tuple[int, int]]:
        """The NCC map at `scale` (the smaller of the two resampled: scale <= 1, b shrinks;
        else a does, so neither is magnified) and the moving field's shape."""
        a_fixed = scale <= 1
        spectra = self._fixed(a_fixed)
        (w, h), pic, k = (self.b_size, self.b, scale) if a_fixed else (self.a_size, self.a, 1 / scale)
        moving = _field_at(pic, max(4, round(w * k)), max(4, round(h * k)))
        smaller = min(spectra.fixed_shape[0] * spectra.fixed_shape[1], moving.size)
        return ncc_map(spectra, moving, MIN_OVERLAP * smaller), spectra, moving.shape

    def place(self, scale: float, centre: tuple[float, float] | None = None, radius: int = 0) -> Placement:
        """The best placement at `scale`; with `centre` (see Placement), only shifts that put
        the moving picture's centre within `radius` pixels of it."""
        ncc, spectra, (mh, mw) = self.ncc(scale)
        fh, fw = spectra.fixed_shape
        if centre is None:
            iy, ix = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
            dy = int(iy if iy < fh else iy - ncc.shape[0])
            dx = int(ix if ix < fw else ix - ncc.shape[1])
        else:
            cy, cx = centre[1] * fh - mh / 2, centre[0] * fw - mw / 2
            ys = np.arange(round(cy) - radius, round(cy) + radius + 1)
            xs = np.arange(round(cx) - radius, round(cx) + radius + 1)
            window = ncc[np.ix_(ys % ncc.shape[0], xs % ncc.shape[1])]
            wy, wx = np.unravel_index(int(np.argmax(window)), window.shape)
            dy, dx = int(ys[wy]), int(xs[wx])
        best = float(ncc[dy % ncc.shape[0], dx % ncc.shape[1]])
        middle = ((dx + mw / 2) / fw, (dy + mh / 2) / fh)
        if scale <= 1:  # b's pixel x (at b's working size) -> a's: scale * x + offset
            return Placement(scale, float(dx), float(dy), best, middle)
        # a shrunk by 1/scale sits at d in b: x_b = x_a / scale + d, so x_a = scale * x_b - scale * d
        return Placement(scale, -scale * dx, -scale * dy, best, middle)


def scales() -> list[float]:
    """The coarse grid: powers of SCALE_STEP, 1 (the same framing) among them."""
    low = int(np.floor(np.log(SCALE_MIN) / np.log(SCALE_STEP)))
    high = int(np.ceil(np.log(SCALE_MAX) / np.log(SCALE_STEP)))
    return [SCALE_STEP**k for k in range(low, high + 1)]


def coarse_placements(a: np.ndarray, b: np.ndarray, keep: int = HYPOTHESES) -> list[Placement]:
    """The best placements over the scale grid at the coarse size, best first, one per scale
    and no two at neighbouring scales (those are the same alignment seen twice)."""
    search = Search(a, b, COARSE_SIDE)
    found = [search.place(s) for s in scales()]
    order = sorted(range(len(found)), key=lambda i: -found[i].ncc)
    chosen: list[int] = []
    for i in order:
        if all(abs(i - j) > 1 for j in chosen):
            chosen.append(i)
        if len(chosen) == keep:
            break
    return [found[i] for i in chosen]
