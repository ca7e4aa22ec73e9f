"""The picture a verifier compares: a colour structure-tensor orientation field.

Why this field: recolours, light/dark variants and channel swaps change the colours of a
picture but not where its edges run. The colour structure tensor (Di Zenzo 1986; Weickert,
"Anisotropic Diffusion in Image Processing", 1998) sums the gradient outer products of the
three channels, so it is unchanged by any permutation of the channels and by inverting the
picture (gradients change sign, their squares do not), and nearly unchanged by a hue rotation
(close to a rotation of RGB space about the grey axis, which leaves sums of squares alone).
Its doubled-angle form z = (Jxx - Jyy) + 2i Jxy is a complex number per pixel whose angle
is twice the edge direction and whose modulus is the edge strength squared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TENSOR_PASSES = 1  # [1 2 1] passes over the tensor: its integration scale


@dataclass(frozen=True)
class Field:
    """One picture's field at one size: `z` (h, w) complex64, `energy` (h, w) = Jxx + Jyy."""

    z: np.ndarray
    energy: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.z.shape[0]), int(self.z.shape[1]))


def _smooth(x: np.ndarray) -> np.ndarray:
    """A separable [1, 2, 1] / 4 blur along both image axes (edges replicated)."""
    p = np.pad(x, [(1, 1), (1, 1)] + [(0, 0)] * (x.ndim - 2), mode="edge")
    v = (p[:-2] + 2 * p[1:-1] + p[2:]) * 0.25
    out: np.ndarray = (v[:, :-2] + 2 * v[:, 1:-1] + v[:, 2:]) * 0.25
    return out


def _gradients(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of every channel, zero at the border (h, w, 3) each."""
    gx = np.zeros_like(rgb)
    gy = np.zeros_like(rgb)
    gx[:, 1:-1] = (rgb[:, 2:] - rgb[:, :-2]) * 0.5
    gy[1:-1] = (rgb[2:] - rgb[:-2]) * 0.5
    return gx, gy


def structure_field(rgb: np.ndarray) -> Field:
    """The field of an RGB picture given as float32 (h, w, 3) in 0..1.

    The picture is blurred once before differencing (JPEG block noise is finer than the
    structure that tells pictures apart) and the tensor once after (the tensor's own scale).
    """
    gx, gy = _gradients(_smooth(rgb))
    jxx, jyy, jxy = (gx * gx).sum(axis=2), (gy * gy).sum(axis=2), (gx * gy).sum(axis=2)
    for _ in range(TENSOR_PASSES):
        jxx, jyy, jxy = _smooth(jxx), _smooth(jyy), _smooth(jxy)
    z = ((jxx - jyy) + 2j * jxy).astype(np.complex64)
    return Field(z, (jxx + jyy).astype(np.float32))


def compressed(field: Field) -> np.ndarray:
    """z scaled to the edge strength (|z| ~ gradient squared -> ~ gradient): a few strong edges
    (a banner's box, a border) must not outweigh the many weaker ones of the picture itself."""
    z = field.z
    out: np.ndarray = z / np.sqrt(np.abs(z) + 1e-6).astype(np.float32)
    return out
