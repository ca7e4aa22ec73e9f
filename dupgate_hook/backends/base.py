"""The contract every backend meets: images in, one unit-length vector per image out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PIL import Image


@dataclass(frozen=True)
class BackendSettings:
    """What the config says about the backend; each backend reads the fields it needs."""

    name: str = "local"
    model: str | None = None
    dimensions: int | None = None
    base_url: str | None = None
    timeout_seconds: float = 60.0
    max_retries: int = 5
    # onnx only (see backends/onnx_backend.py); mean/std are in 0..255 pixel units.
    model_path: str | None = None
    input_size: tuple[int, int] | None = None  # (height, width)
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    channel_order: str = "rgb"
    resize: str = "crop"
    output_name: str | None = None
    # Set by the command, not the file: where a relative model_path starts (the repo root)
    # and where facts about the model file are cached (None: not cached).
    base_dir: str | None = None
    cache_dir: str | None = None


class Backend(Protocol):
    """An embedding backend.

    `embed` gets RGB images already decoded and normalised by `dupgate_hook.images` (EXIF
    rotation applied, alpha composited as `transparency` asks, longest side at most
    `input_side`) and returns a float32 array of shape (len(images), dimensions) whose rows are L2-normalised.
    `similarity` turns two such arrays into an (n, m) matrix of scores where higher means
    more alike and 1.0 means identical; it is what the threshold is compared with. With
    `floor`, only scores at or above it need be exact (lower ones may come back lower), so
    a backend can skip work on pairs that cannot be reported.

    For approximate audits (`dupgate_hook.neighbours`): `views` gives "view" vectors for a
    Euclidean nearest-neighbour index, entries (n, E, D) and queries (n, Q, D), such that a
    near-duplicate pair has some query of one close to some entry of the other (with
    `queries_too` false only the entries need be made); and
    `pair_scores` scores chosen pairs exactly as `similarity` would.

    `candidate_threshold` may be lower than `default_threshold`: with verification on, the
    score only has to find candidates (recall first) and the pixels decide.

    When the manifest holds vectors of an older model of this backend and none of the
    current one, `outdated_vectors_error` says why the command must stop (the message names
    `where` they are), or returns None to let each commit embed what it compares with.
    """

    name: str
    model: str
    dimensions: int
    input_side: int
    transparency: str  # images.WHITE or images.VISIBLE
    batch_size: int
    default_threshold: float  # the score that makes a near-duplicate when pixels are not checked
    candidate_threshold: float  # the score that makes a candidate for verification (verify: true)

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def similarity(self, a: np.ndarray, b: np.ndarray, floor: float | None = None) -> np.ndarray: ...

    def views(self, vectors: np.ndarray, queries_too: bool = True) -> tuple[np.ndarray, np.ndarray]: ...

    def pair_scores(
        self, vectors: np.ndarray, first: np.ndarray, second: np.ndarray, floor: float | None = None
    ) -> np.ndarray: ...

    def outdated_vectors_error(self, where: str) -> str | None: ...


def space_id(backend: Backend) -> str:
    """A file-name-safe id of the vector space: vectors of different spaces never meet."""
    raw = f"{backend.name}-{backend.model}-{backend.dimensions}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of row-normalised vectors, clipped to [-1, 1]."""
    scores = a.astype(np.float32, copy=False) @ b.astype(np.float32, copy=False).T
    clipped: np.ndarray = np.clip(scores, -1.0, 1.0)
    return clipped


class CosineScores:
    """Scoring for backends whose score is the cosine of their vectors (gemini, onnx)."""

    def similarity(self, a: np.ndarray, b: np.ndarray, floor: float | None = None) -> np.ndarray:
        return cosine(a, b)  # one matrix product: `floor` would save nothing

    def views(self, vectors: np.ndarray, queries_too: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """A vector is its own only view (unit length, so Euclidean distance ranks as cosine)."""
        view = vectors.astype(np.float32)[:, None, :]
        return view, view

    def pair_scores(
        self, vectors: np.ndarray, first: np.ndarray, second: np.ndarray, floor: float | None = None
    ) -> np.ndarray:
        """Cosine of the pairs (vectors[first[p]], vectors[second[p]]), in chunks."""
        out = np.empty(len(first), np.float32)
        for s in range(0, len(first), 65536):
            a = vectors[first[s : s + 65536]].astype(np.float32)
            b = vectors[second[s : s + 65536]].astype(np.float32)
            out[s : s + len(a)] = np.einsum("pd,pd->p", a, b)
        clipped: np.ndarray = np.clip(out, -1.0, 1.0)
        return clipped


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    unit: np.ndarray = v / np.maximum(norms, 1e-12)
    return unit
