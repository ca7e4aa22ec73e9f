"""Decode an image file into the normalised RGB picture every backend receives.

Normalising here, once, is what makes a re-encoded, rotated-by-tag or transparent copy look
the same to every backend: EXIF orientation is applied, transparency is composited on a
fixed white background, palette/CMYK/16-bit/grayscale modes become 8-bit RGB, animations
contribute their first frame, and big pictures are shrunk (JPEG draft mode, then
`Image.reduce`) so memory stays bounded.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageStat, UnidentifiedImageError

from dupgate_hook.errors import ImageError
from dupgate_hook.util import LFS_POINTER_PREFIX, one_line

# File suffixes the hook treats as raster images. SVG is vector art and is skipped.
IMAGE_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".gif",
        ".webp",
        ".bmp",
        ".tif",
        ".tiff",
        ".apng",
        ".avif",
        ".heic",
        ".heif",
        ".ppm",
        ".pgm",
        ".pbm",
        ".ico",
        ".tga",
    }
)
DEFAULT_MAX_PIXELS = 100_000_000
BACKGROUND = (255, 255, 255)
WHITE = "white"  # transparency composited on white, always
VISIBLE = "visible"  # on white, unless that leaves (almost) nothing to see: then on black
# "Almost nothing": the picture on white has under this share of the brightness spread it has
# on black. A white or pale glyph becomes visible; dark art, and any art a copy flattened onto
# white still shows, stays on white (so such a copy matches its transparent original).
_VISIBLE_SHARE = 0.2
_MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class LoadedImage:
    """A decoded picture with the facts reports show about its file."""

    image: Image.Image
    width: int
    height: int


def is_image_path(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES


def read_bytes(path: str) -> bytes:
    """The file's bytes, or an ImageError that says why they cannot be had."""
    try:
        size = os.path.getsize(path)
        if size > _MAX_FILE_BYTES:
            raise ImageError(path, f"file is {size} bytes, over the {_MAX_FILE_BYTES}-byte limit")
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ImageError(path, "file not found (deleted or moved since it was staged?)") from None
    except IsADirectoryError:
        raise ImageError(path, "is a directory, not an image file") from None
    except OSError as exc:
        raise ImageError(path, f"cannot read file: {exc.strerror or exc}") from None


def decode(
    path: str, data: bytes, max_side: int, max_pixels: int = DEFAULT_MAX_PIXELS, transparency: str = WHITE
) -> LoadedImage:
    """Decode `data` (the bytes of `path`) to RGB with its longest side at most `max_side`.

    `transparency` is WHITE or VISIBLE (see the constants)."""
    if not data:
        raise ImageError(path, "empty file (0 bytes)")
    if data.startswith(LFS_POINTER_PREFIX):
        raise ImageError(path, "is a Git LFS pointer, not the image: run `git lfs pull` before dupgate")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's EXIF/ICC chatter is not the user's problem
            img: Image.Image = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageError(
                    path,
                    f"{width}x{height} pixels is over the limit of {max_pixels} "
                    "(max_image_pixels in .dupgate.yaml); refusing to decode it",
                )
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)  # animations: the first frame stands for the file
            img.draft("RGB", (max_side, max_side))  # JPEG: decode at reduced scale
            turn = _orientation(img)
            img.load()
            img = _shrink(img, max_side)
            if turn is not None:  # after shrinking: turning a full-size picture copies it
                img = img.transpose(turn)
            rgb = _to_rgb(img, transparency)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(path, "looks like a decompression bomb; refusing to decode it") from None
    except UnidentifiedImageError:
        raise ImageError(path, "not a recognised image format (corrupt or wrong extension?)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, struct.error) as exc:
        # Pillow reports truncation and corruption through this mix of exception types.
        raise ImageError(path, f"corrupt or truncated image ({one_line(exc, marker='')})") from None
    except MemoryError:
        raise ImageError(path, "image too large to decode in memory") from None
    return LoadedImage(rgb, width, height)


def load(
    path: str, max_side: int, max_pixels: int = DEFAULT_MAX_PIXELS, transparency: str = WHITE
) -> LoadedImage:
    return decode(path, read_bytes(path), max_side, max_pixels, transparency)


_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orientation(img: Image.Image) -> Image.Transpose | None:
    """The turn the EXIF orientation tag asks for (what `ImageOps.exif_transpose` applies)."""
    try:
        return _TRANSPOSE_FOR_ORIENTATION.get(img.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block must not make a readable image unusable
        return None


def _shrink(img: Image.Image, max_side: int) -> Image.Image:
    longest = max(img.size)
    if longest <= max_side:
        return img
    factor = longest // (2 * max_side)
    if factor >= 2 and img.mode in ("RGB", "RGBA", "L", "LA", "I", "F", "I;16", "CMYK"):
        img = img.reduce(factor)
    scale = max_side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    if img.mode in ("P", "1"):
        img = img.convert("RGBA")
    return img.resize(size, Image.Resampling.BILINEAR, reducing_gap=None)


def _to_rgb(img: Image.Image, transparency: str = WHITE) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
        mode = "L"
    elif mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
        mode = "L"
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif (
        mode in ("LA", "La", "PA", "RGBa")
        or mode == "L"
        and "transparency" in img.info
        or mode == "RGB"
        and "transparency" in img.info
    ):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        on_white = _composite(img, BACKGROUND)
        if transparency == VISIBLE:
            on_black = _composite(img, (0, 0, 0))
            if _spread(on_white) < _VISIBLE_SHARE * _spread(on_black):
                return on_black
        return on_white
    return img.convert("RGB")


def _composite(img: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    background = Image.new("RGB", img.size, colour)
    background.paste(img, mask=img.getchannel("A"))
    return background


def _spread(img: Image.Image) -> float:
    """Standard deviation of the picture's brightness (0..255)."""
    return float(ImageStat.Stat(img.convert("L")).stddev[0])


# Truncated files must fail, not be silently padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# dupgate applies its own, configurable pixel limit before decoding (see `decode`).
Image.MAX_IMAGE_PIXELS = None
