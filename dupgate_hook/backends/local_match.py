"""How the `local` backend scores maps against each other: band cosines, tone, colour.

A map is compared band by band (four horizontal bands, the worst one dropped: `aggregate`),
each band's cosine weighted by how well the bands' brightness and saturation agree (`tone`).
Where a picture has almost no structure, its colour must agree too (`colour_agreement`).
`local` combines these scores over the framings; `local_reference` writes the whole score of
one pair plainly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dupgate_hook.backends.local_features import BANDS, Bands

TONE_DEADZONE = 0.05  # brightness/saturation differences an edit may cause for free
TONE_SCALE = 0.10  # beyond the dead zone, the agreement falls off on this scale
COLOUR_KEPT = 6  # the best-agreeing bands that count: a banner or caption may cover the rest
# Colour evidence (see `colour_agreement`). Chosen on the generated hard negatives (flat
# colours, gradients, blank and near-blank pictures) and the public set's faint paper textures.
DETAIL_FULL = 0.001  # detail (rms of f16 minus its 3x3 mean) from which structure alone decides
COLOUR_DEADZONE = 0.04  # mean-colour distance (0..1 RGB) that re-encoding and resizing cause
COLOUR_SCALE = 0.06  # beyond the dead zone, colour agreement falls off on this scale


def tone(dv: np.ndarray, ds: np.ndarray) -> np.ndarray:
    """Agreement in [0, 1] of band brightness and saturation (1 within the dead zone)."""
    ev = np.maximum(np.abs(dv) - TONE_DEADZONE, 0.0)
    es = np.maximum(np.abs(ds) - TONE_DEADZONE, 0.0)
    agreement: np.ndarray = np.exp(-(ev * ev + es * es) / TONE_SCALE**2)
    return agreement


def tone_gap(lo: np.ndarray, hi: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Squared excess, beyond the dead zone, of x's distance to [lo, hi] (broadcast)."""
    gap: np.ndarray = np.maximum(np.maximum(lo - x, x - hi), 0.0)
    gap -= TONE_DEADZONE
    np.maximum(gap, 0.0, out=gap)
    gap *= gap
    return gap


def aggregate(per_band: list[np.ndarray]) -> np.ndarray:
    """Mean over bands without the worst one: one occluded band cannot veto a match."""
    total: np.ndarray = per_band[0] + per_band[1]
    worst = np.minimum(per_band[0], per_band[1])
    for x in per_band[2:]:
        total += x
        np.minimum(worst, x, out=worst)
    total -= worst
    total *= 1.0 / (len(per_band) - 1)
    return total


def aggregate_last(cos: np.ndarray) -> np.ndarray:
    """`aggregate` over a trailing band axis."""
    kept: np.ndarray = (cos.sum(axis=-1) - cos.min(axis=-1)) / (cos.shape[-1] - 1)
    return kept


def whole_map_scores(
    x: tuple[Bands, Bands, Bands],
    y: tuple[Bands, Bands, Bands],
    score: Callable[[Bands, Bands], np.ndarray] | None = None,
) -> np.ndarray:
    """Best of the four whole-map framings of (full, f12, sq) maps: frame vs frame, square vs
    frame, frame vs square, square vs square. `score` compares two maps (`band_scores`)."""
    score = score or band_scores
    (x_full, x_f12, x_sq), (y_full, y_f12, y_sq) = x, y
    best = score(x_full, y_full)
    for a, b in ((x_sq, y_f12), (x_f12, y_sq), (x_sq, y_sq)):
        np.maximum(best, score(a, b), out=best)
    return best


def band_scores(x: Bands, y: Bands) -> np.ndarray:
    """Scores (n, m) between one map per image on each side (rows of x can be chunked)."""
    per_band = []
    for b in range(BANDS):
        cos = x.unit[:, b] @ y.unit[:, b].T
        cos *= tone(x.value[:, b, None] - y.value[None, :, b], x.sat[:, b, None] - y.sat[None, :, b])
        per_band.append(cos)
    return aggregate(per_band)


def colour_agreement(
    rgb_a: np.ndarray, detail_a: np.ndarray, rgb_b: np.ndarray, detail_b: np.ndarray
) -> np.ndarray:
    """Factor in [0, 1] on a pair's score: how far colour must agree, given their structure.

    A recolour is a near-duplicate only because its structure survives; with little structure
    (the less detailed of the two decides) the colour *is* the picture, so a red and a yellow
    square do not match while a pale-blue background exported twice does. Colour is compared
    band by band (rows of the frame), the worst-agreeing bands left out, so a banner does not
    count as a change of colour. Arguments broadcast: (n, 1, BANDS, 3)/(n, 1) against
    (1, m, BANDS, 3)/(1, m) gives (n, m); aligned (p, BANDS, 3)/(p,) give (p,).
    """
    per_band = np.sqrt(np.sum(np.square(rgb_a - rgb_b), axis=-1))
    kept = np.partition(per_band, COLOUR_KEPT - 1, axis=-1)[..., :COLOUR_KEPT]
    excess = np.maximum(kept.mean(axis=-1) - COLOUR_DEADZONE, 0.0) / COLOUR_SCALE
    agreement = np.exp(-np.square(excess))
    need = np.clip(1.0 - np.minimum(detail_a, detail_b) / DETAIL_FULL, 0.0, 1.0)
    factor: np.ndarray = (agreement**need).astype(np.float32)
    return factor


def colour_matrix(
    rgb_a: np.ndarray, detail_a: np.ndarray, rgb_b: np.ndarray, detail_b: np.ndarray
) -> np.ndarray:
    """`colour_agreement` of every pair (n, m), worked out only where it can be below 1.

    Only pairs with a picture below DETAIL_FULL need colour; in most repositories those are
    few, and an (n, m, bands, 3) difference for all pairs of an audit block would be hundreds
    of megabytes. Rows are taken a few at a time so memory stays small whatever the block.
    """
    out = np.ones((len(rgb_a), len(rgb_b)), np.float32)
    low_a, low_b = detail_a < DETAIL_FULL, detail_b < DETAIL_FULL
    # Rows of low-detail images against every column, then the other rows against low columns.
    for rows, cols in (
        (np.nonzero(low_a)[0], np.arange(len(rgb_b))),
        (np.nonzero(~low_a)[0], np.nonzero(low_b)[0]),
    ):
        if not len(rows) or not len(cols):
            continue
        for start in range(0, len(rows), 64):
            r = rows[start : start + 64]
            out[np.ix_(r, cols)] = colour_agreement(
                rgb_a[r, None], detail_a[r, None], rgb_b[None, cols], detail_b[None, cols]
            )
    return out


def colour_pairs(rgb: np.ndarray, detail: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """`colour_agreement` of the pairs (first[p], second[p]), as `colour_matrix` does it: only
    where a picture is below DETAIL_FULL, in chunks (an approximate audit scores millions)."""
    out = np.ones(len(first), np.float32)
    need = np.nonzero(np.minimum(detail[first], detail[second]) < DETAIL_FULL)[0]
    for start in range(0, len(need), 65536):
        p = need[start : start + 65536]
        a, b = first[p], second[p]
        out[p] = colour_agreement(rgb[a], detail[a], rgb[b], detail[b])
    return out
