#!/usr/bin/env python3
"""How dupgate's cost grows with the manifest, and what it does to a git repository.

Usage: python benchmarks/scale.py [--sizes 1000,10000,100000] [--work DIR] [--full-audit-max 10000]
                                  [--sample-rows 256] [--commits 100] [--no-git]

Needs the `dupgate` CLI of this checkout on PATH (pip install -e .). For each size N a
scratch repository of N tracked files with all N vectors in one manifest pack is built
(see scale_data.py: real descriptors of 1,500 generated pictures, the rest mixtures), then,
each command a fresh process (wall time and its peak RSS, from wait4):

- load: reading the manifest into a VectorTable, as every command does;
- check 1 / check 20: `dupgate check` on a commit adding 1 or 20 new real pictures: the
  first call (embeds them, writes the pending pack, exit 3) and, after `git add`, the
  call a commit runs (median of 3);
- audit: `dupgate audit --format json` (every pair at or above the default threshold).
  Above --full-audit-max images the audit is timed on its first --sample-rows rows against
  all N columns in a child process, and scaled to the full triangle (N^2 / 2 pairs);
- floor: a plain float32 matrix product of the same vectors, in the audit's blocks and
  triangle (same sampling above --full-audit-max): the least work any exact method does;
- approximate audit (`dupgate audit --approximate`, needs usearch): the time of
  `neighbours.approximate_pairs` on the whole manifest (views, HNSW index, search, exact
  scores of the proposed pairs) and its peak RSS, with 200 real near-duplicate families
  (1,200 images: original, crop, resize+JPEG, hue, banner, square) planted among the
  vectors; its recall: of the pairs exact scoring finds for the planted images, and for
  --sample-rows random images, the share the approximate audit reports; and how many
  images it flagged as crowded (at least --neighbours partners: pairs may be missing).

Then, on a 10,000-image repository (--no-git skips it): bytes of tracked files a one-image
commit rewrites, `.git` growth over --commits such commits and after `git gc`, two
branches adding 50 images each merged (conflicts under .dupgate/ must be none), and what
`dupgate prune` (compaction) does to the files and to `.git`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scale_data as sd

if TYPE_CHECKING:
    from dupgate_hook.backends.local import LocalBackend
    from dupgate_hook.manifest import VectorTable


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS in MB (GNU time's %M), exit code and output of one child."""
    start = time.perf_counter()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # as the dupgate CLI sets for itself
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd], cwd=cwd, capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - start
    *err, peak = proc.stderr.strip().splitlines() or ["0"]
    return seconds, int(peak) / 1024, proc.returncode, proc.stdout + "\n".join(err)


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def reset(repo: Path) -> None:
    sd.git(repo, "reset", "-q", "--hard", "HEAD")
    sd.git(repo, "clean", "-qfd")


def check_case(repo: Path, count: int, seed: int) -> dict[str, float]:
    shutil.rmtree(repo / ".git" / "dupgate" / "cache", ignore_errors=True)  # the first call embeds
    paths = sd.add_pictures(repo, seed, count)
    sd.git(repo, "add", "-A")
    first, first_mb, code, out = timed(["dupgate", "check", *paths], repo)
    assert code in (0, 1, 3), out
    sd.git(repo, "add", "-A")
    runs = [timed(["dupgate", "check", *paths], repo) for _ in range(3)]
    reset(repo)
    return {
        "first_s": first,
        "first_mb": first_mb,
        "first_exit": code,
        "s": statistics.median(r[0] for r in runs),
        "mb": max(r[1] for r in runs),
        "exit": runs[-1][2],
    }


def audit_case(repo: Path, n: int, full_max: int, rows: int) -> dict[str, float]:
    if n <= full_max:
        secs, mb, code, out = timed(["dupgate", "audit", "--format", "json"], repo)
        assert code in (0, 1), out[-500:]
        return {"s": secs, "mb": mb, "sampled": 0}
    cmd = [sys.executable, __file__, "_audit_sample", str(repo), str(rows)]
    secs, mb, code, out = timed(cmd, repo)
    assert code == 0, out[-500:]
    sample = float(out.split()[-1])
    return {"s": sample * n / (2 * rows), "mb": mb, "sampled": rows}


def audit_sample(repo: Path, rows: int) -> float:
    """The audit's scoring of its first `rows` rows against every column (as compare.py)."""
    from dupgate_hook import compare

    backend, table = _manifest(repo)
    every = table.matrix()
    start = time.perf_counter()
    for r0 in range(0, rows, compare._CHUNK):
        block = every[r0 : min(rows, r0 + compare._CHUNK)]
        width = compare._COLUMNS if len(block) <= compare._FEW_PROBES else compare._AUDIT_COLUMNS
        for c0 in range(r0, len(every), width):
            scores = backend.similarity(block, every[c0 : c0 + width], backend.default_threshold)
            np.nonzero(scores >= backend.default_threshold)
    return time.perf_counter() - start


def approx_sample(repo: Path, rows: int) -> str:
    """Seconds of the approximate audit's work, and its recall against exact scoring.

    200 real near-duplicate families (6 images each, `scale_data.families`) are added to
    the manifest's vectors in memory. Times `neighbours.approximate_pairs` on all of them
    (views, index, search, exact scores of the proposed pairs, pairs of keys); then scores
    the planted images, and `rows` random ones, against all exactly and reports the share
    of those pairs the approximate audit also found (planted recall, sample recall).
    """
    from dupgate_hook import neighbours
    from dupgate_hook.allowlist import AllowList

    backend, table = _manifest(repo)
    assert len(table), f"{repo}: no vectors of this backend's space (a repo built by an older model?)"
    planted = sd.families(200)
    planted_keys = [f"planted-{i}" for i in range(len(planted))]
    table.add(planted_keys, planted)
    keys = {k: k for k in table.all_keys()}
    t = backend.default_threshold
    start = time.perf_counter()
    found = neighbours.approximate_pairs(keys, table, backend, t, AllowList())
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the recall check
    got = {(p.a, p.b) for p in found.pairs}
    order = table.all_keys()
    every = table.matrix()

    def recall(sample: np.ndarray) -> tuple[float, int]:
        wanted = set()
        for r0 in range(0, len(sample), 256):
            exact = backend.similarity(every[sample[r0 : r0 + 256]], every, t)
            for r, j in zip(*np.nonzero(exact >= t), strict=True):
                a, b = order[int(sample[r0 + r])], order[int(j)]
                if a != b:
                    wanted.add((min(a, b), max(a, b)))
        return len(wanted & got) / max(1, len(wanted)), len(wanted)

    position = {k: i for i, k in enumerate(order)}
    planted_rows = np.array([position[k] for k in planted_keys])
    p_recall, p_pairs = recall(planted_rows)
    sample = np.random.default_rng(0).choice(len(order), min(rows, len(order)), replace=False)
    s_recall, s_pairs = recall(sample)
    return (
        f"{peak_mb:.0f} {seconds:.2f} {p_recall:.4f} {p_pairs} {s_recall:.4f} {s_pairs} "
        f"{found.candidates} {found.crowded}"
    )


def _manifest(repo: Path) -> tuple[LocalBackend, VectorTable]:
    from dupgate_hook.backends.base import BackendSettings, space_id
    from dupgate_hook.backends.local import LocalBackend
    from dupgate_hook.manifest import PackStore, VectorTable

    backend = LocalBackend(BackendSettings())
    space = space_id(backend)
    store = PackStore(str(repo / ".dupgate" / "vectors" / space), space, backend.dimensions, space)
    table = VectorTable(backend.dimensions)
    store.load(table)
    return backend, table


def load_only(repo: Path) -> float:
    """Seconds to read the manifest into a VectorTable (imports done before the clock starts)."""
    import dupgate_hook.backends.local  # noqa: F401
    import dupgate_hook.manifest  # noqa: F401

    start = time.perf_counter()
    _, table = _manifest(repo)
    table.matrix()
    return time.perf_counter() - start


def matmul_floor(vectors: np.ndarray, rows: int) -> float:
    """Seconds of the audit's triangle of float32 products (first `rows` rows, all columns)."""
    x = vectors.astype(np.float32)
    start = time.perf_counter()
    for r0 in range(0, rows, 1024):
        block = x[r0 : min(rows, r0 + 1024)]
        for c0 in range(r0, len(x), 16384):
            np.nonzero(block @ x[c0 : c0 + 16384].T >= 0.76)
    return time.perf_counter() - start


def size_rows(vectors: np.ndarray, sizes: list[int], work: Path, args: argparse.Namespace) -> list[str]:
    lines = [
        "| images | load s (MB) | check 1: first / commit s (MB) | check 20: first / commit s (MB) "
        "| audit s (MB) | matmul floor s | audit / floor | approximate audit s (MB) | approx. / floor "
        "| approx. recall: planted (pairs) | approx. recall: sample (pairs) | crowded images |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        repo = work / f"r{n}"
        if not repo.exists():
            sd.build_repo(repo, n, vectors)
        loads = [timed([sys.executable, __file__, "_load", str(repo)], repo) for _ in range(3)]
        assert all(r[2] == 0 for r in loads), loads
        load_s = statistics.median(float(r[3].split()[-1]) for r in loads)
        mb = max(r[1] for r in loads)
        one = check_case(repo, 1, 5)
        twenty = check_case(repo, 20, 100)
        audit = audit_case(repo, n, args.full_audit_max, args.sample_rows)
        rows = n if n <= args.full_audit_max else args.sample_rows
        floor = matmul_floor(vectors[:n], rows) * (1 if rows == n else n / (2 * rows))
        note = f" (est. from {audit['sampled']} rows)" if audit["sampled"] else ""
        approx_cmd = [sys.executable, __file__, "_approx", str(repo), str(args.sample_rows)]
        _, _, code, out = timed(approx_cmd, repo)
        assert code == 0, out[-500:]
        ap_mb, ap_secs, p_recall, p_pairs, s_recall, s_pairs, _, crowded = out.split()[-8:]
        lines.append(
            f"| {n:,} | {load_s:.2f} ({mb:.0f}) "
            f"| {one['first_s']:.2f} / {one['s']:.2f} ({one['mb']:.0f}) "
            f"| {twenty['first_s']:.2f} / {twenty['s']:.2f} ({twenty['mb']:.0f}) "
            f"| {audit['s']:.1f}{note} ({audit['mb']:.0f}) | {floor:.1f} | {audit['s'] / floor:.0f}x "
            f"| {float(ap_secs):.1f} ({ap_mb}) | {float(ap_secs) / floor:.1f}x "
            f"| {p_recall} ({p_pairs}) | {s_recall} ({s_pairs}) | {int(crowded):,} |"
        )
        print(lines[-1], flush=True)
    return lines


def commit_one(repo: Path, seed: int, folder: str = "new") -> None:
    paths = sd.add_pictures(repo, seed, 1, folder)
    sd.git(repo, "add", "-A")
    code = timed(["dupgate", "check", *paths], repo)[2]
    if code == 1:  # a synthetic false positive: leave that picture out
        reset(repo)
        return
    sd.git(repo, "add", "-A")
    sd.commit(repo, f"add {seed}")


def git_rows(vectors: np.ndarray, work: Path, commits: int) -> list[str]:
    repo = work / "git10k"
    shutil.rmtree(repo, ignore_errors=True)
    sd.build_repo(repo, 10_000, vectors)
    sd.git(repo, "gc", "-q")
    lines = []
    git_dir = repo / ".git"
    before = dir_bytes(git_dir / "objects")
    commit_one(repo, 500_000)
    changed = sd.git(repo, "diff", "--name-only", "HEAD~1", "HEAD").split()
    manifest_bytes = sum((repo / p).stat().st_size for p in changed if p.startswith(".dupgate/"))
    biggest = max(((repo / p).stat().st_size, p) for p in changed)
    lines.append(
        f"one-image commit: {len(changed)} files written, {manifest_bytes:,} bytes under .dupgate/ "
        f"(largest file {biggest[0]:,} bytes, {biggest[1]}); tracked files modified: "
        f"{len(sd.git(repo, 'diff', '--name-only', '--diff-filter=M', 'HEAD~1', 'HEAD').split())}"
    )
    for i in range(1, commits):
        commit_one(repo, 500_000 + i)
    loose = dir_bytes(git_dir / "objects")
    sd.git(repo, "gc", "-q")
    packed = dir_bytes(git_dir / "objects")
    lines.append(
        f"{commits} one-image commits: .git/objects {before / 1e6:.1f} MB -> {loose / 1e6:.1f} MB "
        f"(+{(loose - before) / 1e3:.0f} KB), after git gc {packed / 1e6:.1f} MB "
        f"(+{(packed - before) / 1e3:.0f} KB, "
        f"{(packed - before) / commits / 1e3:.1f} KB per commit)"
    )
    base = sd.git(repo, "rev-parse", "HEAD").strip()
    for branch, seed in (("a", 600_000), ("b", 700_000)):
        sd.git(repo, "checkout", "-q", "-b", branch, base)
        for i in range(50):
            commit_one(repo, seed + i, f"new-{branch}")
    sd.git(repo, "checkout", "-q", "a")
    merge = subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "merge", "-q", "--no-edit", "b"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    conflicts = sd.git(repo, "diff", "--name-only", "--diff-filter=U").split()
    in_manifest = [p for p in conflicts if p.startswith(".dupgate/")]
    check_code = timed(["dupgate", "check"], repo)[2]
    lines.append(
        f"two branches x 50 images merged: exit {merge.returncode}, conflicts under .dupgate/: "
        f"{len(in_manifest)}; `dupgate check` after the merge exits {check_code}"
    )
    packs = len(list(repo.glob(".dupgate/vectors/*/*.json")))
    before = dir_bytes(git_dir / "objects")
    secs, mb, code, out = timed(["dupgate", "prune"], repo)
    sd.git(repo, "add", "-A", ".dupgate")
    sd.commit(repo, "compact")
    sd.git(repo, "gc", "-q")
    after = dir_bytes(git_dir / "objects")
    lines.append(
        f"compaction (`dupgate prune`, {secs:.1f} s): {packs} packs -> "
        f"{len(list(repo.glob('.dupgate/vectors/*/*.json')))}; the one new pack is a full copy "
        f"(.git/objects +{(after - before) / 1e6:.1f} MB after gc; old packs stay in history)"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_load":
        print(load_only(Path(argv[1])))
        return 0
    if argv and argv[0] == "_approx":
        print(approx_sample(Path(argv[1]), int(argv[2])))
        return 0
    if argv and argv[0] == "_audit_sample":
        print(audit_sample(Path(argv[1]), int(argv[2])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--full-audit-max", type=int, default=10_000)
    ap.add_argument("--sample-rows", type=int, default=256)
    ap.add_argument("--commits", type=int, default=100)
    ap.add_argument("--no-git", action="store_true")
    args = ap.parse_args(argv)
    if not shutil.which("dupgate"):
        raise SystemExit("needs the dupgate CLI on PATH (pip install -e .)")
    sizes = [int(s) for s in args.sizes.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="dupgate-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    cached = work / "vectors.npy"
    if cached.exists():
        vectors = np.load(cached)
    else:
        vectors = sd.descriptors(max(sizes))
        np.save(cached, vectors)
    print(f"work dir {work}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}", flush=True)
    lines = size_rows(vectors, sizes, work, args)
    if not args.no_git:
        lines += [""] + git_rows(vectors, work, args.commits)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
