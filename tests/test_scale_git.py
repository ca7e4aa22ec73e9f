"""The manifest stays friendly to git at scale: small commits, and merges without conflicts.

Guards the design rules of issue 7 with real git: a commit adding one image rewrites no
tracked file and adds at most 64 KB under `.dupgate/`, whatever the manifest's size; and
branches that add images (or compact the manifest) merge without a conflict in `.dupgate/`.
Timing targets live in benchmarks/scale.py, not here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import git, picture, save
from dupgate_hook.backends.base import BackendSettings, l2_normalise, space_id
from dupgate_hook.backends.local import LocalBackend
from dupgate_hook.backends.local_features import DIMENSIONS
from dupgate_hook.main import main
from dupgate_hook.manifest import PackStore

SPACE = space_id(LocalBackend(BackendSettings()))  # the default backend's folder
MAX_REWRITE = 64 * 1024


def _big_manifest(repo: Path, count: int) -> None:
    """`count` tracked files (never decoded) whose vectors are all in one committed pack."""
    for i in range(count):
        folder = repo / "old" / f"{i // 500:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05d}.png").write_bytes(b"placeholder %d" % i)
    git(repo, "add", "-A")
    keys = [line.split()[1] for line in git(repo, "ls-files", "-s").stdout.splitlines()]
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.2, 0.8, (count, DIMENSIONS)).astype(np.float32)
    raw[:, 0] = 1.0  # the descriptor's scale marker
    store = PackStore(str(repo / ".dupgate" / "vectors" / SPACE), SPACE, DIMENSIONS, SPACE)
    store.write_pack(keys, l2_normalise(raw))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base", "--no-verify")


def _commit_images(repo: Path, names: list[str], seed: int) -> None:
    for i, name in enumerate(names):
        save(picture(seed + i), repo / name)
    git(repo, "add", *names)
    assert main(["check", *names]) == 3  # vectors written: stage them
    git(repo, "add", "-A")
    assert main(["check", *names]) == 0
    git(repo, "commit", "-qm", f"add {names}", "--no-verify")


def test_adding_one_image_rewrites_no_tracked_file_and_adds_little(repo: Path) -> None:
    _big_manifest(repo, 3000)
    big_pack = sorted((repo / ".dupgate").rglob("*.npz"))[0]
    assert big_pack.stat().st_size > 10 * MAX_REWRITE  # the manifest dwarfs the bound
    _commit_images(repo, ["new.png"], seed=7)
    modified = git(repo, "diff", "--name-only", "--diff-filter=M", "HEAD~1", "HEAD").stdout.split()
    assert modified == []
    added = git(repo, "diff", "--name-only", "--diff-filter=A", "HEAD~1", "HEAD").stdout.split()
    manifest_files = [p for p in added if p.startswith(".dupgate/")]
    assert len(manifest_files) == 2  # one new pack: its .json and .npz
    assert sum((repo / p).stat().st_size for p in manifest_files) <= MAX_REWRITE


def test_branches_adding_images_and_compacting_merge_without_conflict(repo: Path) -> None:
    _big_manifest(repo, 200)
    git(repo, "checkout", "-qb", "feature")
    _commit_images(repo, ["f1.png", "f2.png", "f3.png"], seed=100)
    _commit_images(repo, ["f4.png"], seed=110)
    git(repo, "checkout", "-q", "main")
    _commit_images(repo, ["m1.png", "m2.png"], seed=200)
    _commit_images(repo, ["m3.png", "m4.png"], seed=210)
    assert main(["prune"]) == 0  # compaction on one side: old packs removed, one new pack
    git(repo, "add", "-A", ".dupgate")
    git(repo, "commit", "-qm", "compact", "--no-verify")
    merge = git(repo, "merge", "--no-edit", "feature", check=False)
    assert merge.returncode == 0, merge.stdout + merge.stderr
    assert git(repo, "diff", "--name-only", "--diff-filter=U").stdout == ""
    # The merged manifest is complete: nothing to embed or stage, every image known.
    assert main(["check"]) == 0
    assert git(repo, "status", "--porcelain", "--", ".dupgate").stdout == ""
