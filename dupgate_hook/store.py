"""Where the packs of one vector space live for a repository, and who may write them.

The committed manifest is `.dupgate/vectors/<space>/` in the work tree; the cache of every
vector ever paid for is `<git dir>/dupgate/cache/<space>/` (outside git: the user cache
folder). Packs that git does not track yet are *pending*: the hook folds them into one, so
several hook calls for one commit leave the same files as one call would.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dupgate_hook.errors import DupgateError
from dupgate_hook.manifest import MANIFEST_DIR, VECTORS_DIR, PackStore, VectorTable
from dupgate_hook.paths import Repo, git

_CACHE_COMPACT_AT = 32
_LOCK_WAIT_SECONDS = 120.0


@dataclass
class Stores:
    manifest: PackStore | None  # None outside a git repository
    cache: PackStore


def cache_root(repo: Repo | None) -> str:
    """The cache folder: under the git dir (never committed), else the user's cache folder."""
    if repo is not None:
        return os.path.join(repo.git_dir, "dupgate", "cache")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dupgate")


def open_stores(repo: Repo | None, space: str, dimensions: int) -> Stores:
    manifest = None
    if repo is not None:
        rel = f"{MANIFEST_DIR}/{VECTORS_DIR}/{space}"
        manifest = PackStore(os.path.join(repo.root, *rel.split("/")), space, dimensions, rel)
    root = cache_root(repo)
    cache = PackStore(os.path.join(root, space), space, dimensions, f"cache {root}/{space}")
    return Stores(manifest=manifest, cache=cache)


def tracked_pack_ids(repo: Repo, store: PackStore) -> set[str]:
    """Packs whose JSON is in the git index (committed or staged)."""
    rel = os.path.relpath(store.folder, repo.root).replace(os.sep, "/")
    out = git(repo.root, "ls-files", "-z", "--", rel)
    return {os.path.basename(p)[:-5] for p in out.split("\0") if p.endswith(".json")}


def load_cache(stores: Stores, table: VectorTable) -> None:
    """Add cached vectors to `table`; a broken cache is only a lost saving, never an error."""
    for pack_id in stores.cache.pack_ids():
        try:
            keys, vectors = stores.cache.read_pack(pack_id)
        except DupgateError as exc:
            print(f"dupgate: warning: ignoring damaged cache pack ({exc})", file=sys.stderr)
            stores.cache.remove_pack(pack_id)
            continue
        table.add(keys, vectors)


def add_to_cache(stores: Stores, keys: list[str], vectors: np.ndarray) -> None:
    """Keep freshly paid-for vectors; a full or read-only cache only warns."""
    if not keys:
        return
    try:
        stores.cache.write_pack(keys, vectors)
        ids = stores.cache.pack_ids()
        if len(ids) >= _CACHE_COMPACT_AT:
            table = VectorTable(stores.cache.dimensions)
            load_cache(stores, table)
            merged = stores.cache.write_pack(table.all_keys(), table.matrix())
            for pack_id in ids:
                if pack_id != merged:
                    stores.cache.remove_pack(pack_id)
    except DupgateError as exc:
        print(f"dupgate: warning: vectors not cached ({exc})", file=sys.stderr)


def recorded_keys(repo: Repo, store: PackStore) -> set[str]:
    """Keys held by the packs git tracks: what the committed manifest will hold."""
    keys: set[str] = set()
    for pack_id in sorted(tracked_pack_ids(repo, store) & set(store.pack_ids())):
        keys.update(store.read_keys(pack_id))  # vectors were checked when they were loaded
    return keys


def write_pending(
    repo: Repo, store: PackStore, table: VectorTable, wanted: list[str], recorded: set[str]
) -> list[str]:
    """Make the work tree's manifest hold `wanted` keys; return the files to `git add`.

    Keys in `recorded` (see `recorded_keys`) cost nothing. The rest, with whatever pending
    (untracked) packs already hold, become one pending pack named by its keys.
    """
    pending_ids = sorted(set(store.pack_ids()) - tracked_pack_ids(repo, store))
    pending = VectorTable(store.dimensions)
    store.load(pending, only=pending_ids)
    missing = [k for k in dict.fromkeys(wanted) if k not in recorded]
    if not missing:
        return []
    if not all(k in pending for k in missing) or len(pending_ids) != 1:
        pending.add(missing, table.get(missing))
        new_id = store.write_pack(pending.all_keys(), pending.matrix())
        for pack_id in pending_ids:
            if pack_id != new_id:
                store.remove_pack(pack_id)
        pending_ids = [new_id]
    rel = os.path.relpath(store.folder, repo.root).replace(os.sep, "/")
    return [f"{rel}/{pending_ids[0]}.json", f"{rel}/{pending_ids[0]}.npz"]


@contextlib.contextmanager
def repo_lock(repo: Repo | None) -> Iterator[None]:
    """One dupgate writer per repository at a time; others wait, then give up clearly."""
    if repo is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; atomic renames still keep files whole
        yield
        return
    folder = os.path.join(repo.git_dir, "dupgate")
    try:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(os.path.join(folder, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        # A read-only repository: nothing can be written there, so there is nothing to guard;
        # any write that is still needed fails later with its own clear message.
        yield
        return
    try:
        deadline = time.monotonic() + _LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DupgateError(
                        f"{folder}/lock: another dupgate is still running on this repository"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)
