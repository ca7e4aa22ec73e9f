"""Vectors on disk: the committed manifest under `.dupgate/` and the cache under `.git/`.

Both are a folder of immutable *packs*: `<id>.npz` (a float16 `vectors` array, loaded with
`allow_pickle=False`) beside `<id>.json` (schema, vector space, keys). A pack is never
rewritten once committed, so adding images adds files, never grows one, and two branches
that each add images merge without conflict. Packs are written atomically (temp file, fsync,
rename; the JSON last, so a pack without its JSON is ignored). Keys are git blob ids.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable

import numpy as np

from dupgate_hook.errors import DupgateError
from dupgate_hook.util import atomic_write, one_line

SCHEMA = 1
MANIFEST_DIR = ".dupgate"
VECTORS_DIR = "vectors"
_HEX_RE = re.compile(r"[0-9a-f]*")
_PACK_RE = re.compile(r"^[0-9a-f]{16}$")
_MAX_JSON_BYTES = 64 * 1024 * 1024


def _stored(vectors: np.ndarray) -> np.ndarray:
    """float16 rows, as packs hold them: fresh vectors are scored exactly as every later run
    will score them from the manifest. Scoring widens float16 block by block."""
    return np.asarray(vectors, dtype=np.float16)


class VectorTable:
    """Keys and their vectors, deduplicated, with O(1) lookup.

    Vectors read from packs stay float16: 100,000 of them are 122 MB instead of 245 MB,
    and widening them all up front cost a quarter of a second per hook call.
    """

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._index: dict[str, int] = {}
        self._chunks: list[np.ndarray] = []
        self._keys: list[str] = []
        self._matrix: np.ndarray | None = None

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._keys)

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The keys without a vector here (one comprehension: cheaper than `in` per key)."""
        index = self._index
        return [k for k in keys if k not in index]

    def all_keys(self) -> list[str]:
        return list(self._keys)

    def add(self, keys: Iterable[str], vectors: np.ndarray) -> None:
        keys = list(keys)
        if not self._index and len(set(keys)) == len(keys):
            # The common first pack: every row is new, so no row-by-row selection or copy.
            self._index = dict(zip(keys, range(len(keys)), strict=True))
            self._keys = keys
            self._chunks = [_stored(vectors)]
            self._matrix = None
            return
        fresh = [(k, i) for i, k in enumerate(keys) if k not in self._index]
        seen: set[str] = set()
        rows = []
        for key, row in fresh:
            if key in seen:
                continue
            seen.add(key)
            self._index[key] = len(self._keys)
            self._keys.append(key)
            rows.append(row)
        if len(rows) == len(keys):  # all new: the whole array, without a row selection
            self._chunks.append(_stored(vectors))
            self._matrix = None
        elif rows:
            self._chunks.append(_stored(vectors[rows]))
            self._matrix = None

    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            if len(self._chunks) == 1:  # one pack (the usual case after compaction): no copy
                self._matrix = self._chunks[0]
            else:
                self._matrix = (
                    np.concatenate(self._chunks)
                    if self._chunks
                    else np.zeros((0, self.dimensions), np.float32)
                )
            self._chunks = [self._matrix]
        return self._matrix

    def get(self, keys: list[str]) -> np.ndarray:
        matrix = self.matrix()
        return matrix[[self._index[k] for k in keys]]

    def rows(self, keys: list[str]) -> np.ndarray:
        """Row numbers of `keys` in `matrix()`."""
        index = self._index
        return np.fromiter((index[k] for k in keys), dtype=np.intp, count=len(keys))


class PackStore:
    """A folder of packs for one vector space (backend, model, dimensions)."""

    def __init__(self, folder: str, space: str, dimensions: int, label: str) -> None:
        self.folder = folder
        self.space = space
        self.dimensions = dimensions
        self.label = label  # how errors name the folder, e.g. ".dupgate/vectors/local-x-256"
        self._keys_read: dict[str, list[str]] = {}  # packs are immutable: read each JSON once

    def pack_ids(self) -> list[str]:
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise DupgateError(f"{self.label}: cannot list folder ({exc.strerror})") from None
        return sorted(n[:-5] for n in names if n.endswith(".json") and _PACK_RE.match(n[:-5]))

    def pack_files(self, pack_id: str) -> tuple[str, str]:
        base = os.path.join(self.folder, pack_id)
        return base + ".json", base + ".npz"

    def read_keys(self, pack_id: str) -> list[str]:
        """The keys a pack's JSON lists, checked (the vectors are not read)."""
        if pack_id in self._keys_read:
            return list(self._keys_read[pack_id])
        name = f"{self.label}/{pack_id}"
        meta = read_json(self.pack_files(pack_id)[0], f"{name}.json", "pack metadata")
        keys = self._check_meta(name, meta)
        self._keys_read[pack_id] = keys
        return list(keys)

    def read_pack(self, pack_id: str) -> tuple[list[str], np.ndarray]:
        """Keys and vectors of one pack, every field checked; never unpickles."""
        npz_path = self.pack_files(pack_id)[1]
        name = f"{self.label}/{pack_id}"
        keys = self.read_keys(pack_id)
        try:
            with np.load(npz_path, allow_pickle=False) as npz:
                if "vectors" not in npz.files:
                    raise DupgateError(f"{name}.npz: has no 'vectors' array")
                vectors = npz["vectors"]
        except DupgateError:
            raise
        except Exception as exc:  # hostile zip bytes fail in many ways: zipfile, zlib, lzma, struct...
            raise DupgateError(f"{name}.npz: unreadable vectors ({one_line(exc, 160, marker='')})") from None
        if vectors.dtype.kind != "f" or vectors.ndim != 2:
            raise DupgateError(f"{name}.npz: vectors must be a 2-D float array, not {vectors.dtype}")
        if vectors.shape != (len(keys), self.dimensions):
            raise DupgateError(
                f"{name}.npz: holds {vectors.shape[0]}x{vectors.shape[1]} vectors but its JSON "
                f"lists {len(keys)} keys of {self.dimensions} dimensions"
            )
        if vectors.dtype == np.float16:
            # Kept as float16 (half the memory; widened per block where scored). Checked by
            # its bits: an all-ones exponent is inf or NaN, and numpy's float16 isfinite is slow.
            # The largest masked exponent, not `== ... .any()`: one temporary array, not two.
            finite = len(vectors) == 0 or int((vectors.view(np.uint16) & 0x7C00).max()) != 0x7C00
        else:
            vectors = vectors.astype(np.float32)  # checked after: wider floats may overflow
            finite = bool(np.isfinite(vectors).all())
        if not finite:
            raise DupgateError(f"{name}.npz: holds NaN or infinite values")
        return keys, vectors

    def _check_meta(self, name: str, meta: object) -> list[str]:
        if not isinstance(meta, dict):
            raise DupgateError(f"{name}.json: must be a JSON object")
        if meta.get("schema") != SCHEMA:
            raise DupgateError(
                f"{name}.json: unknown schema {meta.get('schema')!r} "
                f"(this dupgate reads schema {SCHEMA}; upgrade dupgate?)"
            )
        if meta.get("space") != self.space or meta.get("dimensions") != self.dimensions:
            raise DupgateError(
                f"{name}.json: belongs to space {meta.get('space')!r}/{meta.get('dimensions')!r}, "
                f"not {self.space!r}/{self.dimensions}"
            )
        keys = meta.get("keys")
        if not isinstance(keys, list) or not _all_keys(keys):
            raise DupgateError(f"{name}.json: 'keys' must be a list of git blob ids")
        return keys

    def load(self, table: VectorTable, only: Iterable[str] | None = None) -> None:
        """Add every pack (or only the ids in `only`) to `table`.

        Largest pack first: it then fills the empty table without a row-by-row copy.
        """
        packs = [self.read_pack(p) for p in (self.pack_ids() if only is None else only)]
        for keys, vectors in sorted(packs, key=lambda kv: -len(kv[0])):
            table.add(keys, vectors)

    def write_pack(self, keys: list[str], vectors: np.ndarray) -> str:
        """Write a new pack atomically; its id is derived from its keys (same keys, same file)."""
        order = sorted(range(len(keys)), key=keys.__getitem__)
        keys = [keys[i] for i in order]
        data = np.asarray(vectors, dtype=np.float16)[order]
        import hashlib  # here, like tempfile below: most hook calls write nothing

        pack_id = hashlib.sha256(("\n".join([self.space, *keys])).encode()).hexdigest()[:16]
        json_path, npz_path = self.pack_files(pack_id)
        meta = {"schema": SCHEMA, "space": self.space, "dimensions": self.dimensions, "keys": keys}
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as exc:
            raise DupgateError(f"{self.label}: cannot create the folder ({exc.strerror or exc})") from None
        complete = os.path.exists(json_path)  # the same keys already written: only refreshed
        atomic_write(npz_path, lambda f: np.savez(f, vectors=data), self.label)
        text = json.dumps(meta, indent=0, separators=(",", ":")) + "\n"
        try:
            atomic_write(json_path, lambda f: f.write(text.encode()), self.label)
        except DupgateError:
            if not complete:  # leave no vectors without their JSON behind (e.g. disk full)
                with contextlib.suppress(OSError):
                    os.unlink(npz_path)
            raise
        return pack_id

    def sweep_temp_files(self) -> None:
        """Delete temp files a killed writer left; call only while holding the repo lock."""
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        for name in names:
            if name.startswith(".tmp-"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.folder, name))

    def remove_pack(self, pack_id: str) -> None:
        self._keys_read.pop(pack_id, None)
        for path in self.pack_files(pack_id):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _all_keys(items: list[object]) -> bool:
    """Whether every item is a git blob id (40 or 64 lowercase hex digits).

    Checked in bulk (lengths, then one scan of all characters): a pack of 100,000 keys
    is validated on every hook call, and a regex match per key cost ~0.15 s.
    """
    if not all(type(k) is str for k in items):
        return False
    keys: list[str] = items  # type: ignore[assignment]
    return {len(k) for k in keys} <= {40, 64} and _HEX_RE.fullmatch("".join(keys)) is not None


def read_json(path: str, label: str, what: str) -> object:
    """A small JSON file from the repository, strictly: no NaN/Infinity, bounded size and depth."""
    try:
        if os.path.getsize(path) > _MAX_JSON_BYTES:
            raise DupgateError(f"{label}: too large to be dupgate {what}")
        with open(path, encoding="utf-8") as f:
            return json.load(f, parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DupgateError(f"{label}: unreadable {what} ({one_line(exc, 160, marker='')})") from None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")
