"""Decoding and normalisation: every odd file is either the same picture or a clear error."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import picture
from dupgate_hook import images
from dupgate_hook.errors import ImageError


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def pixels(data: bytes, side: int = 64) -> np.ndarray:
    return np.asarray(images.decode("x", data, side).image, dtype=np.float64)


def test_modes_become_the_same_rgb_picture() -> None:
    base = picture(1, (96, 64))
    reference = pixels(encode(base, "PNG"))
    variants = {
        "cmyk-jpeg": encode(base.convert("CMYK"), "JPEG", quality=95),
        "palette": encode(base.convert("P", palette=Image.Palette.ADAPTIVE, colors=256), "PNG"),
        "rgba-opaque": encode(base.convert("RGBA"), "PNG"),
        "webp": encode(base, "WEBP", quality=95),
        "bmp": encode(base, "BMP"),
        "tiff": encode(base, "TIFF"),
    }
    for name, data in variants.items():
        got = pixels(data)
        assert got.shape == reference.shape, name
        assert np.abs(got - reference).mean() < 12, name


def test_sixteen_bit_and_gray_alpha() -> None:
    ramp = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    sixteen = pixels(encode(Image.fromarray(ramp), "PNG"))
    assert sixteen.min() < 5 and sixteen.max() > 250  # full range kept, not clipped to white
    gray = Image.fromarray((ramp // 256).astype(np.uint8), "L")
    alpha = Image.fromarray(np.zeros((48, 64), np.uint8), "L")
    transparent = pixels(encode(Image.merge("LA", (gray, alpha)), "PNG"))
    assert (transparent == 255).all()  # fully transparent: the fixed white background


def test_animated_gif_uses_first_frame() -> None:
    frames = [picture(s, (64, 48)).convert("P") for s in (2, 3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    first = pixels(buf.getvalue())
    alone = pixels(encode(frames[0], "GIF"))
    assert np.abs(first - alone).mean() < 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    upright = picture(4, (80, 60))
    # Store the pixels as a camera would, so that the tag turns them back upright.
    undo = {
        1: None,
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = upright if undo is None else upright.transpose(undo)
    exif = Image.Exif()
    exif[0x0112] = orientation
    got = pixels(encode(stored, "PNG", exif=exif), 80)
    assert got.shape == (60, 80, 3)
    assert np.abs(got - pixels(encode(upright, "PNG"), 80)).mean() < 1


def test_large_images_are_shrunk() -> None:
    loaded = images.decode("big.jpg", encode(picture(5, (3000, 2000)), "JPEG"), 256)
    assert max(loaded.image.size) == 256 and (loaded.width, loaded.height) == (3000, 2000)


BAD = {
    "empty.png": (b"", "empty file"),
    "text.png": (b"hello, I am text\n", "not a recognised image format"),
    "lfs.png": (
        b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n",
        "Git LFS pointer",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_name_themselves(name: str) -> None:
    data, expected = BAD[name]
    with pytest.raises(ImageError) as info:
        images.decode(name, data, 64)
    assert str(info.value).startswith(f"{name}: ") and expected in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_errors(fmt: str) -> None:
    data = encode(picture(6, (200, 150)), fmt)
    with pytest.raises(ImageError, match="corrupt or truncated"):
        images.decode("cut", data[: len(data) // 2], 64)


def test_pixel_limit_refuses_without_decoding() -> None:
    bomb = encode(Image.new("L", (4000, 4000)), "PNG")  # tiny file, 16 megapixels
    with pytest.raises(ImageError, match="over the limit of 1000000"):
        images.decode("bomb.png", bomb, 64, max_pixels=1_000_000)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="file not found"):
        images.load(str(tmp_path / "gone.png"), 64)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])  # APNG and animated WebP
def test_other_animations_use_first_frame(fmt: str) -> None:
    frames = [picture(s, (64, 48)) for s in (7, 8)]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=100, lossless=True)
    assert getattr(Image.open(io.BytesIO(buf.getvalue())), "n_frames", 1) == 2
    first = pixels(buf.getvalue())
    assert np.abs(first - pixels(encode(frames[0], "PNG"))).mean() < 2


def _glyph(fill: tuple[int, int, int, int], letter: str = "A") -> Image.Image:
    from PIL import ImageDraw

    img = Image.new("RGBA", (96, 96), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((20, 10, 40, 86), fill=fill)
    if letter == "A":
        ImageDraw.Draw(img).rectangle((20, 40, 76, 56), fill=fill)
    return img


def test_visible_transparency_shows_pale_art_on_black() -> None:
    """A white glyph on a transparent canvas is blank on white: VISIBLE shows its shape."""
    data = encode(_glyph((255, 255, 255, 255)), "PNG")
    on_white = np.asarray(images.decode("g.png", data, 96).image, dtype=np.float64)
    shown = np.asarray(images.decode("g.png", data, 96, transparency=images.VISIBLE).image, dtype=np.float64)
    assert on_white.std() == 0.0  # the old behaviour: nothing left to compare
    assert shown.std() > 50 and shown.min() == 0.0


def test_visible_transparency_keeps_dark_art_on_white() -> None:
    """Dark art stays on white, where a copy flattened onto white (a JPEG export) has it too."""
    data = encode(_glyph((30, 30, 90, 255)), "PNG")
    default = np.asarray(images.decode("g.png", data, 96).image)
    shown = np.asarray(images.decode("g.png", data, 96, transparency=images.VISIBLE).image)
    assert np.array_equal(default, shown)
