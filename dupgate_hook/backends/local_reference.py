"""The `local` score of one pair, written plainly: slow, obvious, and the definition.

`local.LocalBackend.similarity` (dense blocks, kernels, bounds that skip window work) and
`local_pairs.pair_scores` (per image, chosen partners) are fast paths; tests hold both equal
to `pair_score` here. Nothing in the hook calls this module.
"""

from __future__ import annotations

import numpy as np

from dupgate_hook.backends import local_features as lf
from dupgate_hook.backends import local_match as lm


def _band_units(grid: np.ndarray) -> list[np.ndarray]:
    """A (rows, cols) map cut into BANDS horizontal bands, each centred and normalised, with
    its flatness coordinate last (two flat bands compare as 1)."""
    units = []
    for band in np.split(grid.astype(np.float64), lf.BANDS, axis=0):
        x = band.reshape(-1)
        centred = x - x.mean()
        eps = len(x) * lf.FLAT_RMS**2
        units.append(np.append(centred, np.sqrt(eps)) / np.sqrt(centred @ centred + eps))
    return units


def _band_means(grid: np.ndarray) -> list[float]:
    return [float(b.mean()) for b in np.split(grid.astype(np.float64), lf.BANDS, axis=0)]


def _framing(
    units_a: list[np.ndarray],
    tone_a: list[tuple[float, float]],
    units_b: list[np.ndarray],
    tone_b: list[tuple[float, float]],
) -> float:
    """One framing: per band cosine times tone agreement, the worst band left out."""
    per_band = [
        float(ua @ ub) * float(lm.tone(np.array(va - vb), np.array(sa - sb)))
        for ua, ub, (va, sa), (vb, sb) in zip(units_a, units_b, tone_a, tone_b, strict=True)
    ]
    return (sum(per_band) - min(per_band)) / (len(per_band) - 1)


class _Image:
    """One image's maps, as the score sees them (from a stored, L2-normalised vector)."""

    def __init__(self, vector: np.ndarray) -> None:
        raw = {name: x[0].astype(np.float64) for name, x in lf.raw_fields(vector[None]).items()}
        self.f16 = raw["f16"].reshape(lf.GRID, lf.GRID)
        self.sat16 = np.kron(raw["s8"].reshape(lf.SGRID, lf.SGRID), np.ones((2, 2)))  # on the 16 grid
        f12, sq = raw["f12"].reshape(lf.WIN, lf.WIN), raw["sq"].reshape(lf.WIN, lf.WIN)
        frame_sat = _band_means(self.sat16)
        self.maps = {  # name: (band units, band (brightness, saturation))
            "full": (_band_units(self.f16), list(zip(_band_means(self.f16), frame_sat, strict=True))),
            "f12": (_band_units(f12), list(zip(_band_means(f12), frame_sat, strict=True))),
            "sq": (_band_units(sq), list(zip(_band_means(sq), raw["sqs"].tolist(), strict=True))),
        }
        self.rgb = raw["rgb"].reshape(lf.COLOUR_BANDS, 3)
        self.detail = lf.detail(self.f16[None])[0]

    def windows(self) -> list[tuple[list[np.ndarray], list[tuple[float, float]]]]:
        """The 25 windows (12x12 sub-blocks of the 16x16 map) as band units and tones."""
        out = []
        for oy in range(lf.OFFSETS):
            for ox in range(lf.OFFSETS):
                v = self.f16[oy : oy + lf.WIN, ox : ox + lf.WIN]
                s = self.sat16[oy : oy + lf.WIN, ox : ox + lf.WIN]
                out.append((_band_units(v), list(zip(_band_means(v), _band_means(s), strict=True))))
        return out


def pair_score(a: np.ndarray, b: np.ndarray) -> float:
    """The score of stored vectors a and b: the best framing, then colour where structure is
    scarce (see `local`, `local_features` and `local_match` for why each piece is there)."""
    x, y = _Image(a), _Image(b)
    best = max(
        _framing(*x.maps[p], *y.maps[q])
        for p, q in (("full", "full"), ("sq", "f12"), ("f12", "sq"), ("sq", "sq"))
    )
    for one, other in ((x, y), (y, x)):
        targets = (other.maps["f12"], other.maps["sq"])
        best = max(best, max(_framing(*w, *t) for w in one.windows() for t in targets))
    colour = lm.colour_agreement(x.rgb, x.detail, y.rgb, y.detail)
    return float(np.clip(best * float(colour), -1.0, 1.0))
