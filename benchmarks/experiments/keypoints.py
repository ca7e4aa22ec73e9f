#!/usr/bin/env python3
"""Research prototype (not used by dupgate): keypoint verification of the pairs `local` flags.

Usage: python benchmarks/experiments/keypoints.py SET_DIR [SET_DIR ...]

Why: on the development sets most false pairs of the `local` backend are distinct pictures
that share a layout, template or canvas (docs/precision.md). Local features with a geometric
check see that the details (a title, a face's eyes, the words of a page) do not match. This
measures, for the pairs `local` flags and for every labelled positive, what a veto would keep.

Per picture (long side resized to 256): Harris corners of the colour structure tensor (summed
over R, G, B: a channel swap or a hue rotation leaves it unchanged) on 4 levels a half octave
apart, at most K with a spatial quota (a 4x4 grid, K/8 a cell); a descriptor of 4x4 cells x 4
orientation bins of the tensor's doubled angle (contrast polarity does not matter: light/dark
variants), SIFT-style clipped. A pair: mutual nearest descriptors with cosine >= 0.8, then the
similarity transform (scale + shift) with most inliers over all pairs of matches; coverage =
inliers / keypoints of either picture that the transform maps inside the other.
Veto: both pictures have >= MIN_KEYPOINTS keypoints and (inliers < MIN_INLIERS or coverage <
MIN_COVERAGE). Pictures without keypoints (faint textures, smooth art) abstain.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SIDE = 256
K = 128
MIN_KEYPOINTS, MIN_INLIERS, MIN_COVERAGE = 16, 6, 0.3

Features = tuple[np.ndarray, np.ndarray, tuple[int, int]]  # (x, y, level, strength), descriptors, size


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of the first two axes (reflected edges)."""
    r = int(3 * sigma + 0.5)
    t = np.arange(-r, r + 1)
    k = np.exp(-t * t / (2 * sigma * sigma))
    k /= k.sum()
    rest = ((0, 0),) * (x.ndim - 2)
    p = np.pad(x, ((r, r), (0, 0), *rest), mode="reflect")
    y = sum(k[i] * p[i : i + x.shape[0]] for i in range(2 * r + 1))
    p = np.pad(y, ((0, 0), (r, r), *rest), mode="reflect")
    out: np.ndarray = sum(k[i] * p[:, i : i + x.shape[1]] for i in range(2 * r + 1))
    return out


def _level_features(level_img: Image.Image, scale: float, level: int) -> tuple[np.ndarray, np.ndarray]:
    rgb = _blur(np.asarray(level_img, np.float32) / 255.0, 0.7)
    gx, gy = np.zeros_like(rgb), np.zeros_like(rgb)
    gx[:, 1:-1] = (rgb[:, 2:] - rgb[:, :-2]) * 0.5
    gy[1:-1] = (rgb[2:] - rgb[:-2]) * 0.5
    jxx, jyy, jxy = (gx * gx).sum(-1), (gy * gy).sum(-1), (gx * gy).sum(-1)
    sxx, syy, sxy = _blur(jxx, 1.5), _blur(jyy, 1.5), _blur(jxy, 1.5)
    response = sxx * syy - sxy * sxy - 0.05 * (sxx + syy) ** 2
    h, w = response.shape
    padded = np.pad(response, 2, mode="constant", constant_values=-np.inf)
    local_max = np.max([padded[i : i + h, j : j + w] for i in range(5) for j in range(5)], axis=0)
    ys, xs = np.nonzero((response == local_max) & (response > 1e-6))
    inside = (ys >= 8) & (ys < h - 8) & (xs >= 8) & (xs < w - 8)
    ys, xs = ys[inside], xs[inside]
    # Doubled-angle orientation histograms (4 bins over 180 degrees), soft-binned.
    c, s = jxx - jyy, 2 * jxy
    position = (np.arctan2(s, c) + np.pi) / (2 * np.pi) * 4
    low = np.floor(position).astype(int) % 4
    frac = position - np.floor(position)
    magnitude = np.sqrt(c * c + s * s)
    hist = np.zeros((h, w, 4), np.float64)
    np.put_along_axis(hist, low[..., None], (magnitude * (1 - frac))[..., None], axis=2)
    upper = np.zeros_like(hist)
    np.put_along_axis(upper, ((low + 1) % 4)[..., None], (magnitude * frac)[..., None], axis=2)
    hist += upper
    integral = np.zeros((h + 1, w + 1, 4))
    integral[1:, 1:] = hist.cumsum(0).cumsum(1)
    cells = []
    for cy in range(4):
        for cx in range(4):
            y0, x0 = ys - 8 + cy * 4, xs - 8 + cx * 4
            cells.append(
                integral[y0 + 4, x0 + 4] - integral[y0, x0 + 4] - integral[y0 + 4, x0] + integral[y0, x0]
            )
    d = np.concatenate(cells, axis=1)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-9
    d = np.minimum(d, 0.25)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-9
    points = np.stack([xs / scale, ys / scale, np.full(len(xs), level), response[ys, xs]], 1)
    return points, d


def features(img: Image.Image) -> Features:
    w, h = img.size
    f = SIDE / max(w, h)
    size = (max(8, round(w * f)), max(8, round(h * f)))
    base = img.convert("RGB").resize(size, Image.Resampling.BILINEAR if f > 1 else Image.Resampling.BOX)
    found = []
    for level in range(4):
        scale = 2 ** (-level / 2)
        level_img = (
            base
            if level == 0
            else base.resize(
                (max(8, round(base.width * scale)), max(8, round(base.height * scale))), Image.Resampling.BOX
            )
        )
        found.append(_level_features(level_img, scale, level))
    points = np.concatenate([p for p, _ in found])
    descriptors = np.concatenate([d for _, d in found]) if len(points) else np.zeros((0, 64))
    if not len(points):
        return points.reshape(0, 4), descriptors, base.size
    strong = points[:, 3] > 0.01 * points[:, 3].max()
    points, descriptors = points[strong], descriptors[strong]
    cell = (
        np.minimum(points[:, 0] * 4 // base.width, 3) * 4 + np.minimum(points[:, 1] * 4 // base.height, 3)
    ).astype(int)
    taken = np.zeros(16, int)
    chosen: list[int] = []
    for i in np.argsort(-points[:, 3]):
        if taken[cell[i]] < K // 8:
            chosen.append(int(i))
            taken[cell[i]] += 1
            if len(chosen) == K:
                break
    return points[chosen], descriptors[chosen], base.size


def match(fa: Features, fb: Features, min_cosine: float = 0.8, tolerance: float = 6.0) -> tuple[int, float]:
    """(inliers, coverage) of the best similarity transform between two pictures' keypoints."""
    (pa, da, size_a), (pb, db, size_b) = fa, fb
    if len(pa) < 3 or len(pb) < 3:
        return 0, 0.0
    cos = da @ db.T
    nearest_b, nearest_a = cos.argmax(1), cos.argmax(0)
    good = (nearest_a[nearest_b] == np.arange(len(pa))) & (cos[np.arange(len(pa)), nearest_b] >= min_cosine)
    ia, ib = np.nonzero(good)[0], nearest_b[good]
    if len(ia) < 3:
        return len(ia), 0.0
    a, b = pa[ia, :2], pb[ib, :2]
    p, q = np.triu_indices(len(ia), 1)
    dist_a, dist_b = np.linalg.norm(a[p] - a[q], axis=1), np.linalg.norm(b[p] - b[q], axis=1)
    ok = dist_a > 10
    p, scale = p[ok], dist_b[ok] / dist_a[ok]
    ok = (scale > 0.3) & (scale < 3.5)
    p, scale = p[ok], scale[ok]
    if not len(scale):
        return 0, 0.0
    shift = b[p] - scale[:, None] * a[p]
    error = np.linalg.norm(scale[:, None, None] * a[None] + shift[:, None] - b[None], axis=2)
    best = int((error < tolerance).sum(1).argmax())
    inliers = int((error[best] < tolerance).sum())
    s, t = scale[best], shift[best]

    def inside(xy: np.ndarray, size: tuple[int, int]) -> int:
        return int(((xy[:, 0] >= 0) & (xy[:, 0] < size[0]) & (xy[:, 1] >= 0) & (xy[:, 1] < size[1])).sum())

    expected = min(inside(s * pa[:, :2] + t, size_b), inside((pb[:, :2] - t) / s, size_a))
    return inliers, inliers / max(1, expected)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(REPO))
    from dupgate_hook.backends import get_backend
    from dupgate_hook.backends.base import BackendSettings
    from dupgate_hook.embed import load_for

    backend = get_backend(BackendSettings())
    for root in map(Path, argv):
        names = sorted(os.listdir(root / "images"))
        labels = json.loads((root / "labels.json").read_text())
        pictures = [load_for(backend, str(root / "images" / n)).image for n in names]
        with ThreadPoolExecutor(2) as pool:
            feats = list(pool.map(features, pictures))
        vectors = np.concatenate([backend.embed(pictures[s : s + 64]) for s in range(0, len(names), 64)])
        scores = backend.similarity(vectors.astype(np.float16), vectors.astype(np.float16))
        group = {n: g for g, members in enumerate(labels["groups"]) for n in members}
        gid = np.array([group.get(n, -1 - k) for k, n in enumerate(names)])
        first, second = np.triu_indices(len(names), 1)
        same = gid[first] == gid[second]
        flagged = scores[first, second] >= backend.default_threshold
        kept_pos = kept_neg = 0
        for i, j, positive in zip(
            first[same | flagged], second[same | flagged], same[same | flagged], strict=True
        ):
            inliers, coverage = match(feats[i], feats[j])
            few = min(len(feats[i][0]), len(feats[j][0])) < MIN_KEYPOINTS
            kept = few or (inliers >= MIN_INLIERS and coverage >= MIN_COVERAGE)
            kept_pos += int(kept and positive)
            kept_neg += int(kept and not positive)
        print(
            f"{root.name}: positives kept {kept_pos / max(1, int(same.sum())):.3f} (of {int(same.sum())}); "
            f"flagged negatives kept {kept_neg} of {int((flagged & ~same).sum())}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
