"""Scratch repositories with large manifests for `scale.py`, built in seconds, not hours.

Embedding 100,000 real pictures would take ~20 minutes, so only `BASE` generated pictures
are embedded with the real `local` backend; the other vectors mix three of them (random
convex weights, so every map stays in 0..1 and the descriptor layout, marker included,
stays what `local_features.unpack` expects) plus a little noise. The tracked files are real
blobs (small unique byte strings named .png): the check path never decodes an image whose
vector the manifest holds, it only needs the index, the blob ids and files that exist.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pictures import picture  # noqa: E402  (this folder)

BASE = 1500


def descriptors(count: int, seed: int = 0) -> np.ndarray:
    """`count` L2-normalised float16 local descriptors in the real layout."""
    from dupgate_hook.backends.base import l2_normalise
    from dupgate_hook.backends.local_features import describe

    base = np.stack([describe(picture(1_000_000 + i, (160, 120))) for i in range(min(BASE, count))])
    if count <= len(base):
        return l2_normalise(base[:count]).astype(np.float16)
    rng = np.random.default_rng(seed)
    out = np.empty((count, base.shape[1]), np.float32)
    out[: len(base)] = base
    step = 20_000
    for s in range(len(base), count, step):
        e = min(count, s + step)
        pick = rng.integers(0, len(base), size=(e - s, 3))
        w = rng.dirichlet((0.7, 0.7, 0.7), size=e - s).astype(np.float32)
        mixed = np.einsum("nk,nkd->nd", w, base[pick])
        mixed += rng.normal(0.0, 0.02, mixed.shape).astype(np.float32)
        np.clip(mixed, 0.0, 1.0, out=mixed)
        mixed[:, 0] = 1.0  # the marker
        out[s:e] = mixed
    return l2_normalise(out).astype(np.float16)


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True, check=True)
    return proc.stdout.decode()


def commit(repo: Path, message: str) -> None:
    git(
        repo,
        "-c",
        "user.name=b",
        "-c",
        "user.email=b@b",
        "-c",
        "commit.gpgsign=false",
        "commit",
        "-qm",
        message,
        "--no-verify",
    )


def build_repo(repo: Path, count: int, vectors: np.ndarray | None = None) -> None:
    """A committed repo of `count` tracked image files, all in one manifest pack (as `init`)."""
    from dupgate_hook.backends.base import BackendSettings, space_id
    from dupgate_hook.backends.local import LocalBackend
    from dupgate_hook.paths import Repo
    from dupgate_hook.store import open_stores

    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "gc.auto", "0")  # no background gc racing the measured `git gc`
    for i in range(count):
        folder = repo / "img" / f"{i // 1000:03d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"{i:06d}.png").write_bytes(b"\x89PNG synthetic %d\n" % i)
    git(repo, "add", "-A")
    keys = [line.split()[1] for line in git(repo, "ls-files", "-s").splitlines()]
    vecs = descriptors(count) if vectors is None else vectors[:count]
    backend = LocalBackend(BackendSettings())
    stores = open_stores(Repo(str(repo), str(repo / ".git"), "sha1"), space_id(backend), backend.dimensions)
    assert stores.manifest is not None
    stores.manifest.write_pack(keys, vecs)
    git(repo, "add", "-A")
    commit(repo, "base")


def add_pictures(repo: Path, first_seed: int, count: int, folder: str = "new") -> list[str]:
    """Write `count` new real pictures; return their repo paths."""
    out = []
    for i in range(count):
        rel = f"{folder}/{first_seed + i}.png"
        os.makedirs(repo / folder, exist_ok=True)
        picture(first_seed + i, (320, 240)).save(repo / rel)
        out.append(rel)
    return out


def families(count: int, seed: int = 2_000_000) -> np.ndarray:
    """Real near-duplicate families to plant among the synthetic vectors, for recall.

    `count` generated pictures, each with five edits (25% crop at an offset, resize +
    JPEG, hue rotation, banner over the top 20%, centred square): count * 6 float16
    descriptors made by the real pipeline (images.load's resizing, then describe).
    """
    import io

    from PIL import Image, ImageDraw

    from dupgate_hook.backends.base import l2_normalise
    from dupgate_hook.backends.local_features import describe

    def jpeg(im: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        im.resize((im.width // 2, im.height // 2)).save(buf, "JPEG", quality=60)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    def hue(im: Image.Image) -> Image.Image:
        hsv = np.asarray(im.convert("HSV")).copy()
        hsv[..., 0] += 42  # ~60 degrees, wrapping
        return Image.fromarray(hsv, "HSV").convert("RGB")

    def banner(im: Image.Image) -> Image.Image:
        out = im.copy()
        ImageDraw.Draw(out).rectangle((0, 0, im.width, im.height // 5), fill=(245, 245, 240))
        return out

    def edits(im: Image.Image) -> list[Image.Image]:
        w, h = im.size
        crop = im.crop((w // 10, h // 6, w // 10 + w * 3 // 4, h // 6 + h * 3 // 4))
        square = im.crop(((w - h) // 2, 0, (w + h) // 2, h))
        return [im, crop, jpeg(im), hue(im), banner(im), square]

    out = []
    for i in range(count):
        for im in edits(picture(seed + i, (320, 240))):
            scale = 256 / max(im.size)  # as images.load hands pictures to the local backend
            size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
            out.append(describe(im.resize(size, Image.Resampling.BILINEAR, reducing_gap=None)))
    return l2_normalise(np.stack(out)).astype(np.float16)
