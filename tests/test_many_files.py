"""pre-commit splits a long file list into several sequential hook calls: same result as one."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from pre_commit import xargs

from conftest import Hook, git, hook_exit, run

COUNT = 3100
FOLDER = "static/images/gallery-exports-from-the-old-content-management-system"


def tiny_picture(seed: int) -> Image.Image:
    """Sharp random tiles: unlike each other at a glance, as distinct site images are."""
    rng = np.random.default_rng(10_000 + seed)
    return Image.fromarray(rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)).resize(
        (56, 40), Image.Resampling.NEAREST
    )


def manifest_digest(repo: Path) -> dict[str, str]:
    return {
        str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((repo / ".dupgate").rglob("*"))
        if p.is_file()
    }


def test_split_calls_give_the_same_result_as_one(hook: Hook, repo: Path) -> None:
    paths = [f"{FOLDER}/picture-number-{i:05d}.png" for i in range(COUNT)]
    # The score alone: 3,100 look-alike mosaics would each send 8 candidates to verification
    # (minutes per call); what is tested here is how split calls add up, not verification.
    (repo / ".dupgate.yaml").write_text("verify: false\n")
    (repo / FOLDER).mkdir(parents=True)
    for i, path in enumerate(paths):
        tiny_picture(i).save(repo / path)
    # A near-duplicate pair at opposite ends of the list lands in different hook calls.
    dup = f"{FOLDER}/zz-copy-of-first.jpg"
    tiny_picture(0).resize((112, 80)).convert("RGB").save(repo / dup, quality=85)
    everything = [*paths, dup]
    git(repo, "add", ".")
    cmd = ("dupgate", "check")
    assert len(xargs.partition(cmd, tuple(everything), 1)) > 1  # pre-commit will split it

    blocked = hook.run("--all-files")
    assert hook_exit(blocked) == 1
    assert f"{paths[0]}  <->  {dup}" in blocked.stdout
    assert not (repo / ".dupgate").exists()

    (repo / dup).unlink()
    git(repo, "add", "-A")
    split = hook.run("--all-files")
    assert hook_exit(split) == 3, split.stdout[-2000:]
    after_split = manifest_digest(repo)
    assert len(after_split) == 2  # one pending pack: .json + .npz

    shutil.rmtree(repo / ".dupgate")
    one = run([sys.executable, "-m", "dupgate_hook", "check", *paths], repo, check=False)
    assert one.returncode == 3, one.stderr
    assert manifest_digest(repo) == after_split

    git(repo, "add", ".dupgate")
    assert hook_exit(hook.run("--all-files")) == 0
    done = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True)
    assert all(line.startswith("A  ") for line in done.stdout.splitlines())  # nothing left unstaged
