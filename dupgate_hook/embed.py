"""Give every image a vector, paying only for images neither the manifest nor the cache has.

Decoding runs in threads (Pillow releases the GIL), embedding in batches of the backend's
size, and each batch goes to the cache as soon as it returns: an interrupted or failed run
never pays twice for what it already got.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dupgate_hook import images
from dupgate_hook.backends.base import Backend
from dupgate_hook.errors import DupgateError, ImageError
from dupgate_hook.manifest import VectorTable
from dupgate_hook.paths import ImageRef, content_key
from dupgate_hook.progress import Progress
from dupgate_hook.store import Stores, add_to_cache, load_cache


@dataclass
class Embedded:
    table: VectorTable
    keys: dict[str, str] = field(default_factory=dict)  # path -> key, for usable images
    errors: list[ImageError] = field(default_factory=list)
    embedded: int = 0


def load_for(backend: Backend, path: str, max_pixels: int = images.DEFAULT_MAX_PIXELS) -> images.LoadedImage:
    """Decode `path` the way `backend` wants its pictures (size, transparency)."""
    return images.load(path, backend.input_side, max_pixels, backend.transparency)


def embed_all(
    refs: list[ImageRef],
    backend: Backend,
    stores: Stores,
    *,
    object_format: str = "sha1",
    max_pixels: int = images.DEFAULT_MAX_PIXELS,
    show_progress: bool | None = None,
) -> Embedded:
    table = VectorTable(backend.dimensions)
    if stores.manifest is not None:
        try:
            stores.manifest.load(table)
        except DupgateError as exc:
            raise DupgateError(
                f"{exc}; delete that pack's .json and .npz and run `dupgate update` to rebuild it "
                "(vectors already paid for come back from the cache)"
            ) from None
    result = Embedded(table)
    for ref in refs:
        if ref.key:
            result.keys[ref.path] = ref.key
            continue
        try:
            result.keys[ref.path] = content_key(images.read_bytes(ref.fs_path), object_format)
        except ImageError as exc:
            result.errors.append(ImageError(ref.path, exc.reason))
    if table.missing(result.keys.values()):
        load_cache(stores, table)
    missing = set(table.missing(result.keys.values()))  # in bulk: 100,000 keys on every call
    todo: dict[str, ImageRef] = {}
    for ref in refs:
        key = result.keys.get(ref.path)
        if key in missing and key not in todo:
            todo[key] = ref
    if todo:
        _embed_missing(todo, backend, stores, result, max_pixels, show_progress)
    return result


def _embed_missing(
    todo: dict[str, ImageRef],
    backend: Backend,
    stores: Stores,
    result: Embedded,
    max_pixels: int,
    show_progress: bool | None,
) -> None:
    progress = Progress(len(todo), f"dupgate: embedding ({backend.name})", show_progress)

    def decode(ref: ImageRef) -> images.LoadedImage | ImageError:
        try:
            return load_for(backend, ref.fs_path, max_pixels)
        except ImageError as exc:
            return ImageError(ref.path, exc.reason)

    items = list(todo.items())
    failed: dict[str, str] = {}
    workers = min(4, os.cpu_count() or 1)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for start in range(0, len(items), backend.batch_size):
                chunk = items[start : start + backend.batch_size]
                decoded = list(pool.map(decode, [ref for _, ref in chunk]))
                keys, pictures = [], []
                for (key, _ref), outcome in zip(chunk, decoded, strict=True):
                    if isinstance(outcome, ImageError):
                        failed[key] = outcome.reason
                    else:
                        keys.append(key)
                        pictures.append(outcome.image)
                if pictures:
                    vectors = backend.embed(pictures)
                    result.table.add(keys, vectors)
                    add_to_cache(stores, keys, vectors)
                    result.embedded += len(keys)
                progress.advance(len(chunk))
    finally:
        progress.close()
    for path, key in list(result.keys.items()):
        if key in failed:  # every path holding these bytes is unusable, not just the first
            result.errors.append(ImageError(path, failed[key]))
            del result.keys[path]
