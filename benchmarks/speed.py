#!/usr/bin/env python3
"""Throughput of dupgate's `local` backend against imagehash pHash and the decode floor.

Usage: python benchmarks/speed.py DIR [--repeat N] [--hook-images 10000] [--hook-runs 5]
       [--no-hook] [--no-similarity]

DIR is a dataset folder (with images/) or any folder of images. In one run, on the same
files, with 2 threads each: (a) decode-only floor: Pillow opening and fully loading every
file; (b) imagehash pHash; (c) dupgate local: dupgate_hook.images.load + backend.embed.
Then similarity timings (median of --repeat runs): one probe against 10,000 stored vectors
(as the hook does), and N x N for N = 360 and 2,000 (audits), for dupgate local (stored
float16 vectors of the images, cycled to the count needed; `--floor` also times the hook's
threshold-only mode) and for pHash (Hamming distance of the 64-bit hashes, as in
quality.py). Then, if the dupgate CLI and pre-commit are installed, the wall time of
`pre-commit run dupgate --files one.png` in a scratch repo whose manifest holds
--hook-images images, against `pre-commit run check-added-large-files --files one.png` and
against an import floor: a hook that only starts dupgate's interpreter and imports numpy and
Pillow (what any numpy + Pillow hook pays before doing anything).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
THREADS = 2


def image_files(root: Path) -> list[str]:
    base = root / "images" if (root / "images").is_dir() else root
    sys.path.insert(0, str(REPO))
    from dupgate_hook.images import is_image_path

    return sorted(str(p) for p in base.rglob("*") if p.is_file() and is_image_path(str(p)))


def rate(fn: object, paths: list[str], repeat: int) -> float:
    """Best images/s over `repeat` runs of fn over all paths with THREADS threads."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        fn(paths)  # type: ignore[operator]
        best = max(best, len(paths) / (time.perf_counter() - start))
    return best


def decode_floor(paths: list[str]) -> None:
    from PIL import Image

    def one(p: str) -> None:
        with Image.open(p) as im:
            im.load()

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, paths))


def phash(paths: list[str]) -> None:
    import imagehash
    from PIL import Image

    def one(p: str) -> object:
        with Image.open(p) as im:
            return imagehash.phash(im)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, paths))


def dupgate_local(paths: list[str]) -> None:
    from dupgate_hook.backends import get_backend
    from dupgate_hook.backends.base import BackendSettings
    from dupgate_hook.embed import load_for

    backend = get_backend(BackendSettings(name="local"))
    with ThreadPoolExecutor(THREADS) as pool:
        for s in range(0, len(paths), backend.batch_size):
            batch = paths[s : s + backend.batch_size]
            backend.embed(list(pool.map(lambda p: load_for(backend, p).image, batch)))


def _median_seconds(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def similarity_timing(paths: list[str], repeat: int) -> list[str]:
    """Median seconds of 1 x 10,000 and N x N scoring: dupgate local vs pHash Hamming."""
    import numpy as np
    from PIL import Image

    from dupgate_hook.backends import get_backend
    from dupgate_hook.backends.base import BackendSettings
    from dupgate_hook.embed import load_for

    backend = get_backend(BackendSettings(name="local"))
    with ThreadPoolExecutor(THREADS) as pool:
        images = list(pool.map(lambda p: load_for(backend, p).image, paths))
    vec = np.concatenate([backend.embed(images[s : s + 64]) for s in range(0, len(images), 64)])
    vec = vec.astype(np.float16)  # as the manifest stores them
    bits: np.ndarray | None = None
    try:
        import imagehash

        def one(p: str) -> np.ndarray:
            with Image.open(p) as im:
                return np.asarray(imagehash.phash(im).hash, dtype=np.float32).reshape(-1)

        with ThreadPoolExecutor(THREADS) as pool:
            bits = np.stack(list(pool.map(one, paths)))
    except ImportError:
        pass

    def cycle(x: np.ndarray, count: int) -> np.ndarray:
        return x[np.arange(count) % len(x)]

    def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        agreeing: np.ndarray = a @ b.T + (1 - a) @ (1 - b).T  # agreeing bits, as quality.py scores pHash
        return agreeing

    threshold = float(backend.default_threshold)
    cases = [
        ("1 x 10,000", 1, 10_000),
        (f"{len(paths)} x {len(paths)}", len(paths), len(paths)),
        ("2,000 x 2,000", 2_000, 2_000),
    ]
    lines = []
    for label, n, m in cases:
        b = cycle(vec, m)
        a = b if n == m else cycle(vec, n)
        reps = repeat if n * m < 1_000_000 else 1
        local = _median_seconds(lambda: backend.similarity(a, b), reps)  # noqa: B023
        gated = _median_seconds(lambda: backend.similarity(a, b, floor=threshold), reps)  # noqa: B023
        row = f"{label:14s} local {local:8.3f}s   local floor={threshold} {gated:8.3f}s"
        if bits is not None:
            hb = cycle(bits, m)
            ha = hb if n == m else cycle(bits, n)
            row += f"   pHash {_median_seconds(lambda: hamming(ha, hb), repeat):8.4f}s"  # noqa: B023
        lines.append(row)
    return lines


def _interpreter(script: str) -> str:
    """The Python a console script runs with (its shebang), else this one."""
    try:
        with open(script, "rb") as f:
            first = f.readline().decode("utf-8", "replace").strip()
    except OSError:
        return sys.executable
    return first[2:].strip() if first.startswith("#!") and "python" in first else sys.executable


def hook_timing(paths: list[str], n_images: int, runs: int = 5, verify: bool = False) -> str:
    """pre-commit wall times for a one-image commit, or the reason they were skipped.

    The repo holds `n_images` distinct small pictures (generated: copies of the public set
    would share content keys), all in the manifest; one new distinct picture is staged.
    The hooks run as `language: system` entries so only their own work is compared
    (`check-added-large-files` comes from the pre-commit-hooks package). The import floor
    runs dupgate's interpreter with the same BLAS thread default dupgate sets on start-up.
    """
    dupgate = shutil.which("dupgate")
    if not dupgate or not all(shutil.which(t) for t in ("pre-commit", "check-added-large-files")):
        return "skipped: needs pre-commit, pre-commit-hooks and the dupgate CLI on PATH"
    import json
    import shlex
    import tempfile

    import numpy as np
    from PIL import Image

    work = Path(tempfile.mkdtemp(prefix="dupgate-speed-"))

    def picture(seed: int) -> Image.Image:
        rng = np.random.default_rng(seed)
        tiles = rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)
        return Image.fromarray(tiles).resize((140, 100), Image.Resampling.NEAREST)

    def run(*cmd: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(cmd, cwd=work, capture_output=True)

    floor_code = "import os; os.environ.setdefault('OPENBLAS_NUM_THREADS', '1'); import numpy, PIL.Image"
    floor_entry = f"{shlex.quote(_interpreter(dupgate))} -c {shlex.quote(floor_code)}"
    try:
        run("git", "init", "-q")
        # The setup (`init` of every picture) runs without verification: it is not what is timed.
        (work / ".dupgate.yaml").write_text("verify: false\n")
        (work / "img").mkdir()
        for i in range(n_images):
            picture(i).save(work / "img" / f"{i:05d}.png")
        (work / ".pre-commit-config.yaml").write_text(
            "repos:\n- repo: local\n  hooks:\n"
            "  - {id: dupgate, name: dupgate, entry: dupgate check, language: system, types: [image],"
            " require_serial: true}\n"
            "  - {id: check-added-large-files, name: large, entry: check-added-large-files,"
            " language: system}\n"
            f"  - {{id: import-floor, name: import-floor, entry: {json.dumps(floor_entry)},"
            " language: system}\n"
        )
        run("git", "add", "-A")
        start = time.perf_counter()
        init = run("dupgate", "init", "--no-baseline")
        init_seconds = time.perf_counter() - start
        if init.returncode != 0:
            return f"skipped: `dupgate init` failed: {init.stderr.decode()[-200:]}"
        run("git", "add", "-A")
        run("git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "base", "--no-verify")
        (work / ".dupgate.yaml").write_text(f"verify: {'true' if verify else 'false'}\n")
        picture(n_images + 1).save(work / "one.png")
        run("git", "add", "one.png")
        first = time.perf_counter()
        code = run("pre-commit", "run", "dupgate", "--files", "one.png").returncode
        new_image = time.perf_counter() - first
        run("git", "add", "-A")
        times: dict[str, list[float]] = {"dupgate": [], "check-added-large-files": [], "import-floor": []}
        for _ in range(runs):  # interleaved, so load from other jobs hits all three alike
            for hook in times:
                start = time.perf_counter()
                done = run("pre-commit", "run", hook, "--files", "one.png")
                times[hook].append(time.perf_counter() - start)
                if done.returncode != 0:
                    return f"skipped: hook {hook} failed: {done.stdout.decode()[-300:]}"
        med = {hook: statistics.median(t) for hook, t in times.items()}
        large = med["check-added-large-files"]
        copy_note = ""
        if verify:
            run("git", "reset", "-q", "one.png")
            picture(7).resize((280, 200), Image.Resampling.BILINEAR).save(work / "copy.png")
            run("git", "add", "copy.png")
            copies: list[float] = []
            for _ in range(runs):
                start = time.perf_counter()
                done = run("pre-commit", "run", "dupgate", "--files", "copy.png")
                copies.append(time.perf_counter() - start)
            proved = b"of the overlap agrees" in done.stdout
            copy_note = (
                f"; a copy of a tracked picture at 2x: {statistics.median(copies):.2f}s "
                f"(exit {done.returncode}, {'proved' if proved else 'NOT proved'}; "
                f"{statistics.median(copies) / large:.2f}x large)"
            )
        return (
            f"manifest of {n_images} images (init {init_seconds:.1f}s); one new image: "
            f"{new_image:.2f}s (exit {code}: embeds it, writes the pending pack); after `git add`: "
            f"dupgate {med['dupgate']:.2f}s, check-added-large-files {large:.2f}s, import floor "
            f"{med['import-floor']:.2f}s; ratio dupgate/large {med['dupgate'] / large:.2f} (target 2), "
            f"floor/large {med['import-floor'] / large:.2f} (medians of {runs})"
            + (" [verify: true]" if verify else "")
            + copy_note
        )
    except OSError as exc:
        return f"skipped: {exc}"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--hook-images", type=int, default=10_000)
    ap.add_argument("--no-hook", action="store_true")
    ap.add_argument("--hook-runs", type=int, default=5, help="runs of each hook (medians)")
    ap.add_argument("--no-similarity", action="store_true", help="skip the similarity timings")
    ap.add_argument("--verify", action="store_true", help="the hook's repository sets verify: true")
    args = ap.parse_args(argv)
    paths = image_files(args.folder)
    if not paths:
        raise SystemExit(f"no images under {args.folder}")
    floor = rate(decode_floor, paths, args.repeat)
    try:
        ph: float | None = rate(phash, paths, args.repeat)
    except ImportError:
        ph = None
    local = rate(dupgate_local, paths, args.repeat)
    print(f"{len(paths)} images, {THREADS} threads, best of {args.repeat}")
    print(f"decode-only floor   {floor:8.1f} images/s")
    print(f"imagehash pHash     {ph:8.1f} images/s" if ph else "imagehash pHash     skipped")
    print(f"dupgate local       {local:8.1f} images/s")
    if ph:
        print(f"local / pHash       {local / ph:8.2f}x")
    print(f"floor / local       {floor / local:8.2f}x   (target <= 1.5)")
    if not args.no_similarity:
        print("similarity timing (median seconds):")
        for line in similarity_timing(paths, max(3, args.repeat)):
            print("  " + line)
    hook = (
        "skipped: --no-hook"
        if args.no_hook
        else hook_timing(paths, args.hook_images, args.hook_runs, args.verify)
    )
    print("hook: " + hook)
    return 0


if __name__ == "__main__":
    sys.exit(main())
