"""Dense alignment: from a placement good to a pixel or so, to one good to a fraction of one.

Fine structure only agrees where two pictures are registered to within a fraction of a pixel,
and a scale off by 1% moves the far edge of a 384-pixel picture by 4 pixels. So the
placement is refined from local evidence: the overlap is cut into a grid of patches, each
patch finds its own small shift by normalised correlation of the orientation fields (with a
parabola through the peak for the sub-pixel part), and a similarity transform (scale,
rotation, shift) is fitted to those shifts by weighted least squares, dropping patches that
disagree with the fit. This is the classic local-shift-then-fit scheme of image registration
(Zitova & Flusser, "Image registration methods: a survey", 2003, sections 4-5).

Mappings are from the fixed picture's pixels to the moving one's: x_m = M @ x_f + c, with
x = (column, row), which is what `PIL.Image.transform` with AFFINE samples by.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from dupgate_hook.verify.fields import compressed, structure_field

GRID = 4  # patches per side of the overlap
REACH = 3  # pixels each patch may shift
MIN_PATCH_NCC = 0.4  # a patch whose best correlation is lower says nothing
MAX_RESIDUAL = 1.0  # pixels: patches further from the fitted transform are dropped


@dataclass(frozen=True)
class Mapping:
    """x_m = matrix @ x_f + offset (x = column, row)."""

    matrix: np.ndarray  # (2, 2)
    offset: np.ndarray  # (2,)

    @classmethod
    def shift(cls, dx: float, dy: float) -> Mapping:
        """The moving picture's origin at (dx, dy) in the fixed one."""
        return cls(np.eye(2), np.array([-dx, -dy], dtype=np.float64))

    def scaled(self, k: float) -> Mapping:
        """The same mapping for both pictures resampled by k."""
        return Mapping(self.matrix, self.offset * k)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(n, 2) fixed points -> moving points."""
        out: np.ndarray = points @ self.matrix.T + self.offset
        return out


def warp(moving: np.ndarray, mapping: Mapping, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The moving picture (float RGB 0..1) sampled on the fixed grid of `shape`, and the mask of
    fixed pixels whose sample lies inside it."""
    h, w = shape
    (a, b), (d, e) = mapping.matrix
    c, f = mapping.offset
    # PIL samples pixel centres; the mapping is for pixel indices: shift by half a pixel.
    c_pil = c + 0.5 * (a + b) - 0.5
    f_pil = f + 0.5 * (d + e) - 0.5
    data = (float(a), float(b), float(c_pil), float(d), float(e), float(f_pil))
    img = Image.fromarray(np.clip(moving * 255 + 0.5, 0, 255).astype(np.uint8))
    out = img.transform((w, h), Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR)
    mh, mw = moving.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    mx = a * xs + b * ys + c
    my = d * xs + e * ys + f
    inside = (mx >= 0) & (mx <= mw - 1) & (my >= 0) & (my <= mh - 1)
    return np.asarray(out, dtype=np.float32) / 255.0, inside


def _box_sums(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Sums of x over every window of `shape` (an integral image)."""
    h, w = shape
    integral = np.zeros((x.shape[0] + 1, x.shape[1] + 1), dtype=x.dtype)
    integral[1:, 1:] = x.cumsum(0).cumsum(1)
    out: np.ndarray = integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]
    return out


def _patch_shift(
    zf: np.ndarray, zw: np.ndarray, y0: int, y1: int, x0: int, x1: int
) -> tuple[float, float, float]:
    """(dy, dx, ncc): where the fixed patch [y0:y1, x0:x1] best matches the warped field
    within REACH pixels (every shift at once over sliding windows)."""
    ref = zf[y0:y1, x0:x1]
    ref = ref - ref.mean()
    ref_norm = np.sqrt(float(np.sum(np.abs(ref) ** 2))) + 1e-9
    region = zw[y0 - REACH : y1 + REACH, x0 - REACH : x1 + REACH]
    windows = np.lib.stride_tricks.sliding_window_view(region, ref.shape)  # (2R+1, 2R+1, h, w)
    size = ref.size
    # sum(ref * conj(win - mean)) = sum(ref * conj(win)) since ref has zero mean
    cross = np.real(np.einsum("ijkl,kl->ij", np.conj(windows), ref))
    total = _box_sums(region, ref.shape)
    power = _box_sums(np.abs(region) ** 2, ref.shape)
    norm = np.sqrt(np.maximum(power - np.abs(total) ** 2 / size, 0)) + 1e-9
    scores = cross / (ref_norm * norm)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    best = float(scores[i, j])

    def vertex(lo: float, mid: float, hi: float) -> float:
        den = lo - 2 * mid + hi
        return 0.0 if den >= 0 else float(np.clip(0.5 * (lo - hi) / den, -0.5, 0.5))

    dy = i - REACH + (vertex(scores[i - 1, j], best, scores[i + 1, j]) if 0 < i < 2 * REACH else 0.0)
    dx = j - REACH + (vertex(scores[i, j - 1], best, scores[i, j + 1]) if 0 < j < 2 * REACH else 0.0)
    return float(dy), float(dx), best


def _fit(points: np.ndarray, shifts: np.ndarray, weights: np.ndarray) -> tuple[float, float, float, float]:
    """Weighted least squares of shift = (p - 1) * x - q * y + tx, q * x + (p - 1) * y + ty
    (a small similarity), returning (p, q, tx, ty)."""
    x, y = points[:, 0], points[:, 1]
    rows = np.concatenate(
        [
            np.stack([x, -y, np.ones_like(x), np.zeros_like(x)], 1),
            np.stack([y, x, np.zeros_like(x), np.ones_like(x)], 1),
        ]
    )
    target = np.concatenate([shifts[:, 0] + x, shifts[:, 1] + y])
    w = np.sqrt(np.concatenate([weights, weights]))
    solution, *_ = np.linalg.lstsq(rows * w[:, None], target * w, rcond=None)
    p, q, tx, ty = (float(v) for v in solution)
    return p, q, tx, ty


def refine(fixed: np.ndarray, moving: np.ndarray, mapping: Mapping) -> Mapping:
    """The mapping corrected by local patch shifts (unchanged when too few patches speak)."""
    h, w = fixed.shape[:2]
    warped, inside = warp(moving, mapping, (h, w))
    rows, cols = np.nonzero(inside)
    if len(rows) == 0:
        return mapping
    y_lo, y_hi, x_lo, x_hi = rows.min() + REACH, rows.max() - REACH, cols.min() + REACH, cols.max() - REACH
    if y_hi - y_lo < 4 * GRID or x_hi - x_lo < 4 * GRID:
        return mapping
    zf = compressed(structure_field(fixed))
    zw = compressed(structure_field(warped))
    ys = np.linspace(y_lo, y_hi, GRID + 1).astype(int)
    xs = np.linspace(x_lo, x_hi, GRID + 1).astype(int)
    points, shifts, weights = [], [], []
    for i in range(GRID):
        for j in range(GRID):
            y0, y1, x0, x1 = ys[i], ys[i + 1], xs[j], xs[j + 1]
            if not inside[y0:y1, x0:x1].all():
                continue
            dy, dx, score = _patch_shift(zf, zw, y0, y1, x0, x1)
            if score >= MIN_PATCH_NCC:
                points.append(((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2))
                shifts.append((dx, dy))
                weights.append(score)
    if len(points) < 3:
        return mapping
    pts, sh, wt = np.array(points), np.array(shifts), np.array(weights)
    keep = np.ones(len(pts), bool)
    for _ in range(2):  # fit, drop the patches it does not explain, fit again
        p, q, tx, ty = _fit(pts[keep], sh[keep], wt[keep])
        predicted = np.stack(
            [(p - 1) * pts[:, 0] - q * pts[:, 1] + tx, q * pts[:, 0] + (p - 1) * pts[:, 1] + ty], 1
        )
        residual = np.hypot(*(predicted - sh).T)
        new_keep = residual <= MAX_RESIDUAL
        if new_keep.sum() < 3 or (new_keep == keep).all():
            break
        keep = new_keep
    # fixed(x) ~ warped(x + delta(x)) = moving(M (x + delta(x)) + c), delta(x) = D x + t
    small = np.array([[p - 1, -q], [q, p - 1]])
    matrix = mapping.matrix @ (np.eye(2) + small)
    offset = mapping.offset + mapping.matrix @ np.array([tx, ty])
    return Mapping(matrix, offset)
