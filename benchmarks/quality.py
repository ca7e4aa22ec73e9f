#!/usr/bin/env python3
"""Near-duplicate quality of dupgate against perceptual hashes, in one run, on one table.

Usage: python benchmarks/quality.py DATASET_DIR [--backend local|gemini|onnx] [--json]
       [--model-path MODEL.onnx] [--config .dupgate.yaml] [--evaluate-path PATH] [--no-baselines]

DATASET_DIR holds images/ and labels.json as written by ../shared/bench/build_public.py.
dupgate is measured through its real code path: every file is decoded with
dupgate_hook.images.load (as the hook does), embedded in batches by the configured backend,
and the full matrix comes from backend.similarity. imagehash pHash and dHash (score =
1 - hamming/64, default threshold <= 10 bits) and czkawka (if the `czkawka` package is
installed; same scoring) run on the same files. Metrics are those of evaluate.py, imported.
For `--backend onnx`, `--model-path` names the model and `--config` may give a .dupgate.yaml
whose onnx settings (input_size, mean, std, channel_order, resize, output_name) apply.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_EVALUATE = REPO.parent / "shared" / "bench" / "evaluate.py"
HASH_BITS = 64
HASH_THRESHOLD = 1 - 10 / HASH_BITS  # <= 10 differing bits
THREADS = 2
# The metrics every table shows first, in this order (suite.py's too).
HEADLINE = ("threshold", "precision", "recall", "f1", "ap", "best_f1", "gate_precision", "gate_recall")


def load_evaluate(path: Path) -> Callable[..., dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("dupgate_bench_evaluate", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import evaluate.py from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn: Callable[..., dict[str, Any]] = module.evaluate
    return fn


def run_dupgate(
    paths: list[str], backend_name: str, model_path: Path | None = None, config: Path | None = None
) -> tuple[np.ndarray, float, float]:
    """(similarity matrix, default threshold, images/s of decode+embed) via dupgate's code."""
    sys.path.insert(0, str(REPO))
    from dataclasses import replace

    from dupgate_hook.backends import get_backend
    from dupgate_hook.backends.base import BackendSettings
    from dupgate_hook.config import parse_config
    from dupgate_hook.embed import load_for

    settings = parse_config(config.read_text()).backend if config else BackendSettings()
    settings = replace(settings, name=backend_name, base_dir=os.getcwd())
    if model_path is not None:
        settings = replace(settings, model_path=str(model_path))
    backend = get_backend(settings)
    start = time.perf_counter()
    rows = []
    with ThreadPoolExecutor(THREADS) as pool:
        for s in range(0, len(paths), backend.batch_size):
            batch = paths[s : s + backend.batch_size]
            images = list(pool.map(lambda p: load_for(backend, p).image, batch))
            rows.append(backend.embed(images))
    elapsed = time.perf_counter() - start
    # The manifest keeps float16: score what the hook would actually compare.
    vectors = np.concatenate(rows).astype(np.float16)
    sim = np.asarray(backend.similarity(vectors, vectors), dtype=np.float64)
    return sim, float(backend.default_threshold), len(paths) / elapsed


def run_dupgate_verified(
    paths: list[str],
    backend_name: str = "local",
    floor: float | None = None,
    limit: int = 8,
    cache_dir: str | None = None,
) -> tuple[np.ndarray, float, float]:
    """dupgate with `verify: true`: retrieval by the backend's score at `floor` (default: its
    candidate threshold; for local also each image's negative, as dupgate_hook.inverted), at
    most `limit` candidates an image, each verified on its pixels by the
    product's own stage (`verify.stage.verify_pairs`).

    Scores: a proved pair 1 + its agreement (threshold 1.0), every other pair its retrieval
    score / 2, so average precision ranks proved pairs first and the rest by retrieval."""
    import hashlib

    from dupgate_hook.backends import get_backend
    from dupgate_hook.backends.base import BackendSettings
    from dupgate_hook.compare import Pair
    from dupgate_hook.verify.pixels import Pictures
    from dupgate_hook.verify.stage import verify_pairs

    sim, _, _ = run_dupgate(paths, backend_name)
    if floor is None:
        floor = get_backend(BackendSettings(name=backend_name)).candidate_threshold
    start = time.perf_counter()
    n = len(paths)
    iu = np.triu_indices(n, 1)
    retrieved = sim.copy()
    if backend_name == "local":  # light/dark candidates, as dupgate_hook.inverted adds them
        negative = _negative_similarity(paths)
        retrieved = np.maximum(retrieved, np.maximum(negative, negative.T))
    scores = retrieved[iu]
    order = np.argsort(-scores, kind="stable")
    chosen = order[scores[order] >= floor]
    names = [f"{k:06d}" for k in range(n)]  # paths may repeat a file name across folders
    pairs = [Pair(names[iu[0][k]], names[iu[1][k]], float(scores[k]), False) for k in chosen]
    # cache keys: the file's path (a benchmark's files do not change under one path)
    keys = {
        n: hashlib.sha1(os.path.abspath(p).encode()).hexdigest() for n, p in zip(names, paths, strict=True)
    }
    where = dict(zip(names, paths, strict=True))
    verified = verify_pairs(pairs, keys, where, Pictures(cache_dir), limit)
    out = sim / 2
    for pair in verified.proved:
        i, j = int(pair.a), int(pair.b)
        agreement = pair.evidence.agreement if pair.evidence is not None else 1.0
        out[i, j] = out[j, i] = 1.0 + agreement
    np.fill_diagonal(out, 2.0)
    elapsed = time.perf_counter() - start
    return out, 1.0, n / max(elapsed, 1e-9)


def _negative_similarity(paths: list[str]) -> np.ndarray:
    """Scores of every image's negative (dupgate_hook.inverted.Negative) against every image."""
    from dupgate_hook.backends import get_backend
    from dupgate_hook.backends.base import BackendSettings
    from dupgate_hook.embed import load_for
    from dupgate_hook.inverted import Negative

    backend = get_backend(BackendSettings())
    negative = Negative(backend)
    rows, plain = [], []
    with ThreadPoolExecutor(THREADS) as pool:
        for s in range(0, len(paths), backend.batch_size):
            batch = list(pool.map(lambda p: load_for(backend, p).image, paths[s : s + backend.batch_size]))
            rows.append(negative.embed(batch))
            plain.append(backend.embed(batch))
    neg = np.concatenate(rows).astype(np.float16)
    vectors = np.concatenate(plain).astype(np.float16)
    out = np.asarray(backend.similarity(neg, vectors), dtype=np.float64)
    np.fill_diagonal(out, -1.0)  # a picture and its own negative are not a pair
    return out


def _hamming_similarity(bits: np.ndarray) -> np.ndarray:
    """bits: (n, 64) of 0/1 -> 1 - hamming/64 for every pair."""
    b = bits.astype(np.float32)
    agree = b @ b.T + (1 - b) @ (1 - b).T
    return np.asarray(agree / HASH_BITS, dtype=np.float64)


def run_imagehash(paths: list[str], kind: str) -> tuple[np.ndarray, float, float] | None:
    try:
        import imagehash
        from PIL import Image
    except ImportError:
        return None
    fn = {"phash": imagehash.phash, "dhash": imagehash.dhash}[kind]

    def one(p: str) -> np.ndarray:
        with Image.open(p) as im:
            return np.asarray(fn(im).hash, dtype=np.uint8).reshape(-1)

    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        bits = np.stack(list(pool.map(one, paths)))
    rate = len(paths) / (time.perf_counter() - start)
    return _hamming_similarity(bits), HASH_THRESHOLD, rate


def run_czkawka(paths: list[str]) -> tuple[np.ndarray, float, float] | None:
    """czkawka's 64-bit hash through the `czkawka` PyPI bindings, if installed."""
    try:
        czkawka: Any = importlib.import_module("czkawka")
    except ImportError:
        return None
    finder = czkawka.ImageSimilarity()

    def one(p: str) -> np.ndarray:
        text = finder.hash_image(p)
        raw = base64.b64decode(text + "=" * (-len(text) % 4))
        return np.unpackbits(np.frombuffer(raw, dtype=np.uint8))

    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        bits = np.stack(list(pool.map(one, paths)))
    rate = len(paths) / (time.perf_counter() - start)
    if bits.shape[1] != HASH_BITS:
        return None
    return _hamming_similarity(bits), HASH_THRESHOLD, rate


def format_table(results: dict[str, dict[str, Any]]) -> str:
    kinds = sorted({k for r in results.values() for k in r["recall_by_kind"]})
    cols = [*HEADLINE, *kinds, "images_per_s"]
    heads = [c.replace("edit:", "").replace("natural:", "") for c in cols]
    width = max(len(h) for h in heads) + 1
    lines = ["metric".ljust(width) + "".join(name.rjust(11) for name in results)]
    for i, col in enumerate(cols):
        head = heads[i]
        cells = []
        for r in results.values():
            v = r["recall_by_kind"].get(col) if col in kinds else r.get(col)
            cells.append("-" if v is None else f"{v:.3f}" if col != "images_per_s" else f"{v:.0f}")
        lines.append(head.ljust(width) + "".join(c.rjust(11) for c in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--backend", default="local", choices=["local", "gemini", "onnx"])
    ap.add_argument("--model-path", type=Path, help="the .onnx file, for --backend onnx")
    ap.add_argument("--config", type=Path, help="a .dupgate.yaml whose backend settings apply")
    ap.add_argument("--evaluate-path", type=Path, default=DEFAULT_EVALUATE)
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--no-baselines", action="store_true", help="only measure dupgate")
    args = ap.parse_args(argv)
    if args.backend == "onnx" and args.model_path is None and args.config is None:
        ap.error("--backend onnx needs --model-path (or a --config that sets model_path)")

    evaluate = load_evaluate(args.evaluate_path)
    labels = json.loads((args.dataset / "labels.json").read_text())
    names = sorted(os.listdir(args.dataset / "images"))
    paths = [str(args.dataset / "images" / n) for n in names]

    runs: dict[str, Callable[[], tuple[np.ndarray, float, float] | None]] = {
        f"dupgate-{args.backend}": lambda: run_dupgate(paths, args.backend, args.model_path, args.config),
    }
    skipped: dict[str, str] = {}
    if not args.no_baselines:
        runs["pHash"] = lambda: run_imagehash(paths, "phash")
        runs["dHash"] = lambda: run_imagehash(paths, "dhash")
        runs["czkawka"] = lambda: run_czkawka(paths)
    results: dict[str, dict[str, Any]] = {}
    for name, run in runs.items():
        out = run()
        if out is None:
            skipped[name] = "package not installed (pip install imagehash / czkawka)"
            continue
        sim, threshold, rate = out
        r = evaluate(names, sim, labels, threshold)
        r["images_per_s"] = round(rate, 1)
        results[name] = r
    if args.json:
        print(
            json.dumps(
                {"dataset": str(args.dataset), "images": len(names), "results": results, "skipped": skipped},
                indent=1,
            )
        )
    else:
        print(
            f"{len(names)} images, {sum(len(g) * (len(g) - 1) // 2 for g in labels['groups'])}"
            f" positive pairs; default thresholds; recall per kind at that threshold"
        )
        print(format_table(results))
        for name, why in skipped.items():
            print(f"skipped {name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
