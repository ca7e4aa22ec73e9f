"""The verifier's core written plainly, one shift and one cell at a time: the definition the
fast paths (FFT correlation, reshaped cell sums, prefix-sum rectangles) are tested against.
Far too slow for use: it exists to be read and to catch a fast path drifting from it."""

from __future__ import annotations

import numpy as np


def ncc_at(fixed: np.ndarray, moving: np.ndarray, dy: int, dx: int, rim: int) -> float | None:
    """Masked NCC of `moving` (its outer `rim` left out) with origin at (dy, dx) over `fixed`;
    None where they do not overlap."""
    mh, mw = moving.shape
    rim = rim if min(mh, mw) > 4 * rim + 4 else 0
    f_vals, m_vals = [], []
    for y in range(rim, mh - rim):
        for x in range(rim, mw - rim):
            fy, fx = y + dy, x + dx
            if 0 <= fy < fixed.shape[0] and 0 <= fx < fixed.shape[1]:
                f_vals.append(fixed[fy, fx])
                m_vals.append(moving[y, x])
    if not f_vals:
        return None
    f, m = np.array(f_vals), np.array(m_vals)
    f, m = f - f.mean(), m - m.mean()
    return float(
        np.real(np.sum(f * np.conj(m))) / np.sqrt(np.sum(np.abs(f) ** 2) * np.sum(np.abs(m) ** 2) + 1e-12)
    )


def best_overlay_value(value: np.ndarray, banner_max: float, blob_max: float) -> float:
    """The largest sum of `value` over a rectangle that is a full-width band of at most
    `banner_max` of the cells or any rectangle of at most `blob_max` (0 if none is positive)."""
    rows, cols = value.shape
    best = 0.0
    for r0 in range(rows):
        for r1 in range(r0 + 1, rows + 1):
            for c0 in range(cols):
                for c1 in range(c0 + 1, cols + 1):
                    area = (r1 - r0) * (c1 - c0)
                    limit = banner_max if (c0 == 0 and c1 == cols) else blob_max
                    if area <= limit * rows * cols:
                        best = max(best, float(value[r0:r1, c0:c1].sum()))
    return best


def cells_plain(
    za: np.ndarray,
    zb: np.ndarray,
    energy_a: np.ndarray,
    energy_b: np.ndarray,
    cell: int,
    floor: float,
    agree: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(informative, agreeing, cosine) per cell, one cell and one pixel at a time."""
    rows, cols = za.shape[0] // cell, za.shape[1] // cell
    informative = np.zeros((rows, cols), bool)
    agreeing = np.zeros((rows, cols), bool)
    cosine = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            inner = norm_a = norm_b = total_a = total_b = 0.0
            for y in range(r * cell, (r + 1) * cell):
                for x in range(c * cell, (c + 1) * cell):
                    inner += float(np.real(za[y, x] * np.conj(zb[y, x])))
                    norm_a += abs(za[y, x]) ** 2
                    norm_b += abs(zb[y, x]) ** 2
                    total_a += float(energy_a[y, x])
                    total_b += float(energy_b[y, x])
            cosine[r, c] = inner / np.sqrt(norm_a * norm_b + 1e-18)
            informative[r, c] = np.sqrt(max(total_a, total_b) / (cell * cell)) >= floor
            agreeing[r, c] = cosine[r, c] >= agree
    return informative, agreeing, cosine
