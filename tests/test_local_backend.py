"""The local backend: edits of one picture match, different pictures do not."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dupgate_hook.backends import local_features as lf
from dupgate_hook.backends import local_windows as lw
from dupgate_hook.backends.base import BackendSettings
from dupgate_hook.backends.local import LocalBackend


def _scene(seed: int, size: tuple[int, int] = (480, 320)) -> Image.Image:
    """A random 'photo': smooth colour field plus shapes, so structure exists at all scales."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    base = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(1, 6, 3)
        base[..., c] = 0.5 + 0.35 * np.sin(2 * np.pi * (fx * xx + fy * yy) + ph)
    img = Image.fromarray((base * 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        x1, y1 = x0 + int(rng.integers(20, w // 3)), y0 + int(rng.integers(20, h // 3))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)((x0, y0, x1, y1), fill=colour)
    return img


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _hue_rotate(img: Image.Image, degrees: float) -> Image.Image:
    a = np.asarray(img.convert("HSV")).copy()
    a[..., 0] = (a[..., 0].astype(int) + int(degrees / 360 * 255)) % 256
    return Image.fromarray(a, "HSV").convert("RGB")


def _banner(img: Image.Image) -> Image.Image:
    out = img.copy()
    ImageDraw.Draw(out).rectangle((0, 0, img.width, int(img.height * 0.2)), fill=(240, 240, 235))
    return out


def _prepared(img: Image.Image, backend: LocalBackend) -> Image.Image:
    """What the pipeline hands embed(): longest side at most input_side."""
    out = img.copy()
    out.thumbnail((backend.input_side, backend.input_side), Image.Resampling.BILINEAR)
    return out


EDITS = {
    "resize+recompress": lambda im: _jpeg(im.resize((im.width * 2 // 5, im.height * 2 // 5)), 45),
    "png-roundtrip": lambda im: Image.open(io.BytesIO(_png(im))).convert("RGB"),
    "crop-75-corner": lambda im: im.crop((0, 0, im.width * 3 // 4, im.height * 3 // 4)),
    "crop-75-offset": lambda im: im.crop(
        (
            im.width // 10,
            im.height // 5,
            im.width // 10 + im.width * 3 // 4,
            im.height // 5 + im.height * 3 // 4,
        )
    ),
    "square": lambda im: im.crop(((im.width - im.height) // 2, 0, (im.width + im.height) // 2, im.height)),
    "hue-60": lambda im: _hue_rotate(im, 60),
    "banner": _banner,
}


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend(BackendSettings())


def _vectors(backend: LocalBackend, images: list[Image.Image]) -> np.ndarray:
    vec = backend.embed([_prepared(im, backend) for im in images])
    return vec.astype(np.float16)  # what the manifest stores


def test_shape_norm_and_size(backend: LocalBackend) -> None:
    vec = backend.embed([_scene(1), _scene(2)])
    assert vec.shape == (2, backend.dimensions) and vec.dtype == np.float32
    assert np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)
    assert backend.dimensions * 2 <= 2048  # float16 manifest cost per image
    assert backend.embed([]).shape == (0, backend.dimensions)


def test_identical_scores_one(backend: LocalBackend) -> None:
    vec = _vectors(backend, [_scene(3)])
    assert backend.similarity(vec, vec)[0, 0] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edits_match(backend: LocalBackend, edit: str) -> None:
    original = _scene(7)
    vec = _vectors(backend, [original, EDITS[edit](original)])
    score = backend.similarity(vec[:1], vec[1:])[0, 0]
    assert score >= backend.default_threshold, f"{edit}: {score:.3f}"
    # symmetric (up to the two code paths' rounding)
    assert backend.similarity(vec[1:], vec[:1])[0, 0] == pytest.approx(score, abs=0.01)


def test_different_pictures_do_not_match(backend: LocalBackend) -> None:
    vec = _vectors(backend, [_scene(seed) for seed in range(20, 32)])
    s = backend.similarity(vec, vec)
    off = s[~np.eye(len(vec), dtype=bool)]
    assert off.max() < backend.default_threshold


def test_recolour_of_flat_tone_is_not_a_copy(backend: LocalBackend) -> None:
    """Same layout, very different brightness: a different asset, not a recolour."""
    a = _scene(40)
    dark = Image.fromarray((np.asarray(a, dtype=np.float32) * 0.35).astype(np.uint8))
    vec = _vectors(backend, [a, dark])
    assert backend.similarity(vec[:1], vec[1:])[0, 0] < backend.default_threshold


def test_flat_and_tiny_images_do_not_break(backend: LocalBackend) -> None:
    flat = Image.new("RGB", (64, 40), (250, 240, 120))
    tiny = _scene(5).resize((6, 5))
    vec = _vectors(backend, [flat, tiny])
    assert np.isfinite(backend.similarity(vec, vec)).all()


def test_flat_colours_match_only_their_own_colour(backend: LocalBackend) -> None:
    """Without structure the colour is the picture: a pale-blue background exported twice
    matches, a red and a yellow square (or a hue rotation of a flat tone) do not."""
    pale = Image.new("RGB", (640, 360), (200, 225, 245))
    same_again = _jpeg(pale.resize((320, 180)), 70)
    red, yellow = Image.new("RGB", (200, 200), (220, 30, 30)), Image.new("RGB", (200, 200), (240, 220, 20))
    vec = _vectors(backend, [pale, same_again, red, yellow, _hue_rotate(pale, 60)])
    s = backend.similarity(vec, vec)
    assert s[0, 1] >= backend.default_threshold
    assert s[2, 3] < backend.default_threshold
    assert s[0, 4] < backend.default_threshold


def _gradient(start: tuple[int, int, int], end: tuple[int, int, int]) -> Image.Image:
    t = np.linspace(0.0, 1.0, 480)[None, :, None]
    row = np.array(start, float) * (1 - t) + np.array(end, float) * t
    return Image.fromarray(np.repeat(row, 270, axis=0).astype(np.uint8), "RGB")


def test_gradients_of_other_colours_do_not_match(backend: LocalBackend) -> None:
    blue = _gradient((20, 40, 120), (120, 180, 250))
    vec = _vectors(backend, [blue, _jpeg(blue, 60), _gradient((120, 20, 40), (250, 200, 120))])
    s = backend.similarity(vec, vec)
    assert s[0, 1] >= backend.default_threshold
    assert s[0, 2] < backend.default_threshold


def test_many_against_many_equals_one_by_one(backend: LocalBackend) -> None:
    """The batched (audit) and the kernel (hook) code paths agree."""
    images = [_scene(s) for s in range(50, 90)]
    images += [EDITS["crop-75-offset"](im) for im in images[:5]]
    vec = _vectors(backend, images)
    full = backend.similarity(vec, vec)
    rows = np.vstack([backend.similarity(vec[i : i + 1], vec) for i in range(len(vec))])
    assert full.shape == (len(vec), len(vec))
    assert np.abs(full - rows).max() < 1e-3
    # a copy of the same vectors takes the two-direction path rather than the symmetric one
    assert np.abs(backend.similarity(vec, vec.copy()) - full).max() < 1e-5


def test_faint_textures_agree_across_code_paths(backend: LocalBackend) -> None:
    """Near-flat maps: the kernel path must not amplify float32 rounding of the band means."""
    rng = np.random.default_rng(3)
    faint = [
        Image.fromarray((200 + rng.normal(0, 1.5, (96, 128, 3))).clip(0, 255).astype(np.uint8))
        for _ in range(12)
    ]
    vec = _vectors(backend, faint + [_scene(9)])
    full = backend.similarity(vec, vec)
    rows = np.vstack([backend.similarity(vec[i : i + 1], vec) for i in range(len(vec))])
    assert np.abs(full - rows).max() < 1e-3


def test_floor_keeps_scores_at_or_above_it_exact(backend: LocalBackend) -> None:
    images = [_scene(s) for s in range(60, 72)]
    images += [EDITS[e](images[i]) for i, e in enumerate(sorted(EDITS))]
    vec = _vectors(backend, images)
    exact = backend.similarity(vec, vec)
    for floor in (0.3, backend.default_threshold):
        gated = backend.similarity(vec, vec, floor=floor)
        assert np.array_equal(gated >= floor, exact >= floor)
        keep = exact >= floor
        assert np.abs(gated[keep] - exact[keep]).max() < 1e-5
        assert (gated <= exact + 1e-5).all()


def _edge_vectors(backend: LocalBackend) -> np.ndarray:
    """Pictures where rounding matters: flat, black, white, faint and one-band textures."""
    rng = np.random.default_rng(11)
    pictures = [Image.new("RGB", (64, 48), (v, v, v)) for v in (0, 1, 128, 255)]
    for amp in (0.5, 2.0, 8.0):
        base = rng.normal(128, amp, (96, 128, 1)).repeat(3, axis=2)
        pictures += [
            Image.fromarray(np.clip(base * k + off, 0, 255).astype(np.uint8))
            for k, off in ((1.0, 0.0), (0.05, 0.0), (1.0, 120.0))
        ]
    half = np.full((80, 80, 3), 40, np.uint8)
    half[50:] = 220
    pictures += [Image.fromarray(half), _scene(13), EDITS["crop-75-offset"](_scene(13))]
    return _vectors(backend, pictures)


def test_window_stats_match_explicit_windows() -> None:
    """Box sums (band-major) equal each window band's tone and norm computed by slicing."""
    vec = _edge_vectors(LocalBackend(BackendSettings()))
    parts = lf.unpack(vec)
    stats = lw.window_stats(parts)
    maps = parts.f16.astype(np.float64)
    for k in range(lf.N_WIN):
        oy, ox = divmod(k, lf.OFFSETS)
        for b in range(lf.BANDS):
            cells = maps[:, oy + lf.ROWS * b : oy + lf.ROWS * (b + 1), ox : ox + lf.WIN].reshape(len(vec), -1)
            centred = cells - cells.mean(axis=1, keepdims=True)
            inv = 1.0 / np.sqrt((centred**2).sum(axis=1) + lf.EPS)
            np.testing.assert_allclose(stats.value[b, :, k], cells.mean(axis=1), rtol=0, atol=1e-6)
            np.testing.assert_allclose(stats.inv_denom[b, :, k], inv, rtol=1e-5)
    lo_v, hi_v, lo_s, hi_s = stats.ranges()
    assert np.array_equal(lo_v, stats.value.min(axis=2)) and np.array_equal(hi_v, stats.value.max(axis=2))
    assert np.array_equal(lo_s, stats.sat.min(axis=2)) and np.array_equal(hi_s, stats.sat.max(axis=2))


def test_kernel_cosines_equal_explicit_windows() -> None:
    """The hook's kernel path (windows last) and the audit's explicit windows agree."""
    from dupgate_hook.backends import local as local_mod

    vec = _edge_vectors(LocalBackend(BackendSettings()))
    parts = lf.unpack(vec)
    probes = lf.unpack(vec[-3:])
    maps = local_mod._Maps.of(probes)
    every, cols = slice(0, len(vec)), slice(0, 3 * local_mod._TARGETS)
    explicit = local_mod._Windows.of(parts, explicit=True)
    kernel = local_mod._Windows.of(parts, explicit=False)
    kernels = lw.window_kernels(maps.unit.transpose(1, 0, 2))
    by_units = local_mod._cosines(explicit, every, maps, cols, None)
    by_kernels = local_mod._cosines(kernel, every, maps, cols, kernels)
    for x, y in zip(by_units, by_kernels, strict=True):  # float32 rounding of near-flat bands: ~4e-5
        np.testing.assert_allclose(x, y.transpose(0, 2, 1), rtol=0, atol=1e-4)


def test_column_blocks_do_not_change_scores(backend: LocalBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Few probes against many stored images are scored in column blocks: same scores."""
    from dupgate_hook.backends import local as local_mod

    images = [_scene(s) for s in range(100, 124)]
    images += [EDITS[e](images[i]) for i, e in enumerate(sorted(EDITS))]
    vec = np.concatenate([_vectors(backend, images), _edge_vectors(backend)])
    whole = {floor: backend.similarity(vec[:3], vec, floor) for floor in (None, 0.76)}
    monkeypatch.setattr(local_mod, "_COLUMN_BLOCK", 7)
    for floor, expected in whole.items():
        blocked = backend.similarity(vec[:3], vec, floor)
        keep = expected >= (floor or -1.0)
        assert np.abs(blocked[keep] - expected[keep]).max() <= 1e-6
        assert np.array_equal(blocked >= 0.76, expected >= 0.76)


def test_fast_paths_equal_the_plain_reference(backend: LocalBackend) -> None:
    """Dense scoring (audit and hook paths) and per-pair scoring give `pair_score`'s values."""
    from dupgate_hook.backends import local_reference

    base = [_scene(s) for s in (60, 61, 62)]
    pictures = [
        *base,
        *(EDITS[e](base[0]) for e in sorted(EDITS)),
        _hue_rotate(base[1], 120),
        Image.new("RGB", (64, 40), (250, 240, 120)),
        Image.new("RGB", (90, 60), (20, 30, 200)),
        _gradient((20, 40, 120), (120, 180, 250)),
        Image.new("RGB", (40, 40)),
        _scene(5).resize((6, 5)),
    ]
    vec = _vectors(backend, pictures)
    n = len(vec)
    expected = np.array([[local_reference.pair_score(vec[i], vec[j]) for j in range(n)] for i in range(n)])
    assert np.allclose(backend.similarity(vec, vec), expected, atol=2e-4)
    assert np.allclose(backend.similarity(vec[:2], vec), expected[:2], atol=2e-4)  # few probes: kernels
    first, second = np.triu_indices(n, 1)
    assert np.allclose(backend.pair_scores(vec, first, second), expected[first, second], atol=2e-4)
    assert expected.max() <= 1.0 and (expected[0, 3 : 3 + len(EDITS)] >= backend.default_threshold).all()
