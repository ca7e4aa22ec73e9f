#!/usr/bin/env python3
"""Build dupgate's development benchmark: several independent near-duplicate sets with hard
negatives, each written as OUT_DIR/<set>/images/* and OUT_DIR/<set>/labels.json.

Usage: python benchmarks/datasets/build.py OUT_DIR [--sets a,b] [--cache DIR] [--seed N]
Deterministic given the seed and the Debian package versions (recorded in sources and in
OUT_DIR/build.json). Needs Pillow and numpy; the Debian sets need apt-get + dpkg-deb
(root, after one `apt-get update`) unless the cache already holds the packages.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import debian  # noqa: E402
from common import Original, dedupe, write_set  # noqa: E402

Builder = Callable[[random.Random, Path], list[Original]]
# set name -> "module:function"; every builder takes (rng, cache) and returns the originals
SETS: dict[str, str] = {
    "generated": "synthetic:generated",
    "text": "textpages:text",
    "games": "packaged:games",
    "icons": "packaged:icons",
    "docs": "packaged:docs",
    "photos": "packaged:photos",
    "web": "web:web",
    "lightdark": "lightdark:lightdark",
}


def builder(name: str) -> Builder:
    module, function = SETS[name].split(":")
    fn: Builder = getattr(importlib.import_module(module), function)
    return fn


def build_one(name: str, out: Path, cache: Path, seed: int) -> dict[str, object]:
    """One set from its own seeded generator, so sets do not depend on each other."""
    start = time.perf_counter()
    rng = random.Random(f"{seed}:{name}")
    originals = dedupe(builder(name)(rng, cache))
    counts: dict[str, object] = dict(write_set(out / name, originals, rng))
    counts["seconds"] = round(time.perf_counter() - start, 1)
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/dupgate-bench-cache"))
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    names = [s for s in args.sets.split(",") if s]
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        ap.error(f"unknown sets: {', '.join(unknown)}")
    debian.load_fonts(args.cache)
    report: dict[str, object] = {"seed": args.seed, "sets": {}}
    for name in names:
        counts = build_one(name, args.out, args.cache, args.seed)
        report["sets"][name] = counts  # type: ignore[index]
        print(f"{name}: {counts}", flush=True)
    report["packages"] = dict(sorted(debian.VERSIONS.items()))
    args.out.mkdir(parents=True, exist_ok=True)
    build_json = args.out / "build.json"
    previous = json.loads(build_json.read_text()) if build_json.exists() else {}
    if previous.get("seed") == args.seed:  # a partial rebuild keeps the other sets' counts
        previous["sets"].update(report["sets"])
        previous["packages"].update(report["packages"])
        report = previous
    build_json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
