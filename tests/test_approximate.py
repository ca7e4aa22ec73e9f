"""Approximate audits: the index proposes pairs, the backend scores them exactly."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_local_backend import EDITS, _prepared, _scene

from conftest import git, picture, run, save
from dupgate_hook.backends.base import BackendSettings, CosineScores, cosine
from dupgate_hook.backends.local import LocalBackend
from dupgate_hook.neighbours import candidate_pairs

DUPGATE = [sys.executable, "-m", "dupgate_hook"]


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend(BackendSettings())


@pytest.fixture(scope="module")
def vectors(backend: LocalBackend) -> np.ndarray:
    """Scenes, every edit of some, flat, black and tiny pictures: float16 as stored."""
    images = [_scene(s) for s in range(200, 216)]
    images += [edit(images[i % 4]) for i, edit in enumerate(EDITS.values())]
    images += [
        Image.new("RGB", (64, 40), (250, 240, 120)),
        Image.new("RGB", (50, 50)),
        _scene(7).resize((6, 5)),
        picture(3),
    ]
    return backend.embed([_prepared(im, backend) for im in images]).astype(np.float16)


def test_pair_scores_equal_the_dense_scores(backend: LocalBackend, vectors: np.ndarray) -> None:
    dense = backend.similarity(vectors, vectors)
    first, second = np.triu_indices(len(vectors), 1)
    got = backend.pair_scores(vectors, first, second)
    assert np.abs(got - dense[first, second]).max() < 1e-5
    assert (dense[first, second] >= backend.default_threshold).sum() >= len(EDITS)  # pairs exist
    # In any order, repeated, and one-sided: still the same pair's score.
    perm = np.random.default_rng(0).permutation(len(first))
    again = backend.pair_scores(vectors, second[perm], first[perm])
    assert np.abs(again - dense[first[perm], second[perm]]).max() < 1e-5


def test_pair_scores_with_floor_keep_what_counts_exact(backend: LocalBackend, vectors: np.ndarray) -> None:
    dense = backend.similarity(vectors, vectors)
    first, second = np.triu_indices(len(vectors), 1)
    exact = dense[first, second]
    for floor in (0.3, backend.default_threshold):
        got = backend.pair_scores(vectors, first, second, floor)
        assert np.array_equal(got >= floor, exact >= floor)
        keep = exact >= floor
        assert np.abs(got[keep] - exact[keep]).max() < 1e-5
        assert (got <= exact + 1e-5).all()


def test_cosine_backends_pair_scores_and_views() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(size=(30, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    first, second = rng.integers(0, 30, 50), rng.integers(0, 30, 50)
    scores = CosineScores()
    assert np.allclose(scores.pair_scores(v, first, second), cosine(v, v)[first, second], atol=1e-6)
    entries, queries = scores.views(v.astype(np.float16))
    assert entries.shape == queries.shape == (30, 1, 16)


def test_candidates_find_the_edits_of_a_picture(backend: LocalBackend, vectors: np.ndarray) -> None:
    entries, queries = backend.views(vectors)
    assert entries.shape[-1] == queries.shape[-1] and np.isfinite(queries).all()
    first, second = candidate_pairs(vectors, backend.views, 4)
    again = candidate_pairs(vectors, backend.views, 4)  # the same commit proposes the same pairs
    assert np.array_equal(first, again[0]) and np.array_equal(second, again[1])
    assert (first < second).all()
    assert len(set(zip(first.tolist(), second.tolist(), strict=True))) == len(first)
    dense = backend.similarity(vectors, vectors)
    wanted = {
        (i, j) for i, j in zip(*np.nonzero(np.triu(dense >= backend.default_threshold, 1)), strict=True)
    }
    assert wanted <= set(zip(first.tolist(), second.tolist(), strict=True))
    assert len(first) < len(vectors) * (len(vectors) - 1) // 2  # it did not just list everything
    one = candidate_pairs(vectors[:1], backend.views, 4)
    assert len(one[0]) == 0


def _audit(repo: Path, *extra: str) -> tuple[dict[tuple[str, str], float], str]:
    proc = run([*DUPGATE, "audit", "--format", "json", *extra], repo, check=False)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    return {(p["a"], p["b"]): p["score"] for p in report["pairs"]}, proc.stderr


def test_approximate_audit_reports_what_the_exact_one_does(repo: Path) -> None:
    for seed in range(40):
        img = picture(500 + seed)
        save(img, repo / "img" / f"p{seed:02}.png")
        if seed < 8:
            edit = list(EDITS.values())[seed % len(EDITS)]
            save(edit(img), repo / "img" / f"p{seed:02}-edit.png")
    save(picture(500), repo / "img" / "copy-of-p00.png")  # identical bytes: an exact pair
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "images", "--no-verify")
    exact, _ = _audit(repo)
    approx, stderr = _audit(repo, "--approximate", "--neighbours", "5")
    assert "approximate audit" in stderr and "pairs scored" in stderr
    assert (
        len(exact) >= 6
    )  # the copies the pixels prove (two 40% JPEG q45 copies of noise-like blocks are not)
    assert set(approx) == set(exact)
    assert all(abs(approx[k] - exact[k]) < 1e-4 for k in exact)
    page = repo / "page.html"  # the report page takes the same option
    proc = run([*DUPGATE, "report", "--html", str(page), "--approximate"], repo)
    assert "approximate audit" in proc.stderr and f"{len(exact)} near-duplicate pairs" in proc.stdout
    assert all(a in page.read_text() and b in page.read_text() for a, b in exact)


def test_approximate_audit_errors(repo: Path) -> None:
    save(picture(1), repo / "a.png")
    for command in ("audit", "report --html r.html"):
        proc = run([*DUPGATE, *command.split(), "--neighbours", "5"], repo, check=False)
        assert proc.returncode == 2 and "--neighbours only applies with --approximate" in proc.stderr
    proc = run([*DUPGATE, "audit", "--approximate", "--neighbours", "0"], repo, check=False)
    assert proc.returncode == 2 and "--neighbours" in proc.stderr
    # Without the optional package: one line naming the fix, exit 2, no traceback.
    code = (
        "import sys; sys.modules['usearch'] = None; from dupgate_hook.main import main; "
        "raise SystemExit(main(['audit', '--approximate']))"
    )
    proc = run([sys.executable, "-c", code], repo, check=False, env={**os.environ})
    assert proc.returncode == 2, proc.stderr
    assert "needs the usearch package" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
