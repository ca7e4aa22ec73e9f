"""Candidates for light/dark variants: each probe's negative, retrieved like the probe itself.

The local backend compares brightness maps, which a dark version of a light design turns
upside down: the pair scores low and never reaches the verifier, whose orientation fields do
not care about light and dark. So for the local backend each probe is embedded a second time
as its negative (`PIL.ImageOps.invert`) and those vectors are scored against every image;
pairs at or above the threshold join the candidates. The negatives' vectors are kept in the
cache, in a space of their own (never committed, never compared with anything but images).
Other backends (gemini: every embedding is a paid call; onnx: a model of the user's) are not
asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import ImageOps

from dupgate_hook.compare import Pair, pairs_from_scores
from dupgate_hook.embed import Embedded, embed_all
from dupgate_hook.paths import ImageRef
from dupgate_hook.store import Stores, open_stores

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PIL import Image

    from dupgate_hook.backends.base import Backend
    from dupgate_hook.session import Session

_BLOCK = 4096  # stored columns per similarity call


class Negative:
    """A backend that embeds each picture's negative (everything else is the backend's)."""

    def __init__(self, backend: Backend) -> None:
        self.inner = backend
        self.name, self.model, self.dimensions = backend.name, backend.model, backend.dimensions
        self.input_side, self.transparency = backend.input_side, backend.transparency
        self.batch_size, self.default_threshold = backend.batch_size, backend.default_threshold
        self.candidate_threshold = backend.candidate_threshold

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.inner.embed([ImageOps.invert(im.convert("RGB")) for im in images])


def negative_pairs(
    session: Session, probes: list[str], embedded: Embedded, where: dict[str, str]
) -> list[Pair]:
    """Pairs (probe, image) whose score, with the probe inverted, is at or above the threshold."""
    backend = session.backend
    if backend.name != "local" or not probes:
        return []
    probe_keys = sorted({embedded.keys[p] for p in probes if p in embedded.keys})
    path_of = {embedded.keys[p]: p for p in sorted(probes) if p in embedded.keys}
    refs = [ImageRef(path_of[k], where.get(path_of[k]) or session.fs_path(path_of[k]), k) for k in probe_keys]
    # a space of its own, named like every space (dimensions last): "local-mv4.negatives-637"
    space = f"{backend.name}-{backend.model}.negatives-{backend.dimensions}"
    stores = open_stores(session.repo, space, backend.dimensions)
    negatives = embed_all(
        refs,
        Negative(backend),  # type: ignore[arg-type]  # meets the protocol by delegation
        Stores(manifest=None, cache=stores.cache),
        max_pixels=session.config.max_image_pixels,
        show_progress=False,
    )
    keys = [k for k in probe_keys if k in negatives.table]
    if not keys:
        return []
    counted = set(embedded.keys.values())
    columns = [k for k in embedded.table.all_keys() if k in counted]
    matrix = embedded.table.matrix()  # the stored matrix itself when every vector counts
    stored = matrix if len(columns) == len(embedded.table) else matrix[embedded.table.rows(columns)]
    rows = negatives.table.get(keys)
    threshold = session.threshold
    scored: list[tuple[str, str, float]] = []
    for c0 in range(0, len(columns), _BLOCK):
        scores = np.asarray(backend.similarity(rows, stored[c0 : c0 + _BLOCK], threshold))
        for i, j in zip(*np.nonzero(scores >= threshold), strict=True):
            other = columns[c0 + j]
            if other != keys[i]:  # a picture and its own negative are not a pair
                scored.append((keys[i], other, float(scores[i, j])))
    return [p for p in pairs_from_scores(embedded.keys, scored, session.allow) if not p.exact]
