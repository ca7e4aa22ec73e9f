"""Generated pictures shared by the tests and the benchmarks (numpy + Pillow only)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def picture(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A distinct, photo-like picture per seed: smooth random blobs plus edges.

    Its 10-pixel blocks of noise are a hard case for verification: a half-size JPEG copy below
    quality ~75 loses enough of them that under 95% of the overlap agrees, so tests that need a
    proved copy save it at quality 85 (docs/verification.md, known limits)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    img = Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)
    detail = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    overlay = Image.fromarray(detail).resize(size, Image.Resampling.NEAREST)
    return Image.blend(img, overlay, 0.35)
