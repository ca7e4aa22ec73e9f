"""The offline default backend: multi-view brightness maps compared under several framings.

v2 ("mv2"). A perceptual hash compares one global thumbnail and so misses crops, recolours
and overlays. This backend stores, per image, small brightness maps (whole frame, centred
square) and coarse saturation, 613 float16 values (about 1.2 KB), and scores a pair as the
best of: whole frame vs whole frame, any of 25 "75% windows" of one vs the whole other, and
the centred square of one vs the other's whole frame or windows. The maths, and why each
piece is there, lives in `local_features`; this module is the `Backend` wrapper.

The score is not plain cosine: it lies in [-1, 1], is 1.0 for identical images and is what
the threshold is compared with. On the public benchmark (benchmarks/README.md) a threshold
of 0.76 gave gate precision 0.99 (F1 0.88, AP 0.94).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from dupgate_hook.backends import local_features as lf
from dupgate_hook.backends.base import BackendSettings, l2_normalise

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PIL import Image

# Below this many probe images, windows of the other side are scored through one matrix
# product against their stored maps (cheap for the hook's few-against-many); above it,
# the other side's windows are built explicitly (cheaper for many-against-many audits).
_KERNEL_LIMIT = 32
_THREADS = 2


class LocalBackend:
    """Offline near-duplicate descriptor; see the module docstring."""

    name = "local"
    model = "mv2"
    dimensions = lf.DIMENSIONS
    input_side = 256
    batch_size = 64
    default_threshold = 0.76

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One L2-normalised float32 row per image (numpy + Pillow, no model)."""
        if not images:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        # numpy and Pillow release the GIL in the heavy parts, so threads use both cores.
        with ThreadPoolExecutor(_THREADS) as pool:
            rows = list(pool.map(lf.describe, images))
        return l2_normalise(np.stack(rows))

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Scores (len(a), len(b)) in [-1, 1]; the best over the framings described above."""
        n, m = len(a), len(b)
        if n == 0 or m == 0:
            return np.zeros((n, m), dtype=np.float32)
        pa, pb = lf.unpack(a), lf.unpack(b)
        scores = lf.band_scores(pa.full, pb.full)
        for x, y in ((pa.sq, pb.f12), (pa.f12, pb.sq), (pa.sq, pb.sq)):
            np.maximum(scores, lf.band_scores(x, y), out=scores)
        wa = lf.windows(pa)
        np.maximum(scores, lf.window_scores(wa, pb.f12), out=scores)
        np.maximum(scores, lf.window_scores(wa, pb.sq), out=scores)
        if n <= _KERNEL_LIMIT:
            np.maximum(scores, lf.window_scores_by_kernels(pa.f12, pb), out=scores)
            np.maximum(scores, lf.window_scores_by_kernels(pa.sq, pb), out=scores)
        else:
            wb = lf.windows(pb)
            np.maximum(scores, lf.window_scores(wb, pa.f12).T, out=scores)
            np.maximum(scores, lf.window_scores(wb, pa.sq).T, out=scores)
        clipped: np.ndarray = np.clip(scores, -1.0, 1.0)
        return clipped
