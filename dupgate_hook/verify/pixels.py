"""The decoded pictures a verifier compares, cached by content key outside the repository.

Pixels come from the file the session resolved for each path (the work tree, or the staged
blob that `paths.staged_files` wrote for an image whose work-tree file differs). A picture
that cannot be decoded (a Git LFS pointer, a blob this clone lacks) is *unavailable*: the
pair is reported as not verified, never a crash.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from dupgate_hook import images
from dupgate_hook.errors import DupgateError, ImageError
from dupgate_hook.util import atomic_write

SIDE = 384  # long side the verifier decodes at: its finest comparison (verifier.FINEST_SIDE)
_CACHE_VERSION = "v1"


@dataclass(frozen=True)
class Picture:
    rgb: np.ndarray  # (h, w, 3) uint8, long side at most SIDE
    size: tuple[int, int]  # the file's own (width, height)


class Pictures:
    """Pictures by content key: memory, then the cache folder, then the file."""

    def __init__(self, cache_dir: str | None, max_pixels: int = images.DEFAULT_MAX_PIXELS) -> None:
        self.folder = os.path.join(cache_dir, "verify", _CACHE_VERSION) if cache_dir else None
        self.max_pixels = max_pixels
        self._held: dict[str, Picture | str] = {}

    def get(self, key: str, fs_path: str) -> Picture | str:
        """The picture, or why it is unavailable (one line)."""
        if key not in self._held:
            self._held[key] = self._cached(key) or self._decoded(key, fs_path)
        return self._held[key]

    def _file(self, key: str) -> str | None:
        return os.path.join(self.folder, key[:2], f"{key}.npz") if self.folder else None

    def _cached(self, key: str) -> Picture | None:
        path = self._file(key)
        if path is None or not os.path.exists(path):
            return None
        try:  # a broken cache entry is only a lost saving
            with np.load(path, allow_pickle=False) as data:
                rgb, size = data["rgb"], data["size"]
            if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or size.shape != (2,):
                return None
            return Picture(rgb, (int(size[0]), int(size[1])))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None

    def _decoded(self, key: str, fs_path: str) -> Picture | str:
        try:
            loaded = images.load(fs_path, SIDE, self.max_pixels, images.VISIBLE)
        except ImageError as exc:
            return f"pixels unavailable ({exc.reason})"
        picture = Picture(np.asarray(loaded.image, dtype=np.uint8), (loaded.width, loaded.height))
        path = self._file(key)
        if path is not None:
            with contextlib.suppress(OSError, DupgateError):  # read-only repository: no cache
                os.makedirs(os.path.dirname(path), exist_ok=True)
                atomic_write(
                    path,
                    lambda f: np.savez(f, rgb=picture.rgb, size=np.array(picture.size, np.int64)),
                    "verification cache",
                )
        return picture
