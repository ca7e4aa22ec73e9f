#!/usr/bin/env python3
"""Score dupgate's `local` backend and perceptual hashes on every development set in one run.

Usage: python benchmarks/suite.py DATA_DIR [--sets a,b] [--json OUT] [--evaluate-path PATH]

DATA_DIR holds <set>/images and <set>/labels.json as written by benchmarks/datasets/build.py.
Tools are run through benchmarks/quality.py (run_dupgate, run_imagehash, run_czkawka) and
scored with ../shared/bench/evaluate.py, each at its default threshold. On top of evaluate's
metrics: false pairs per million negative pairs, the same within each hard-negative family
(both images carry the tag), recall per edit family, and a leave-one-set-out threshold: the
lowest threshold at which the OTHER sets' negatives give <= 5 false pairs per million, applied
to the held-out set (so no number here is tuned on the set it reports).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402

LOSO_FP_PER_MILLION = 5.0
VERIFY_CACHE: str | None = None  # --verify-cache: decoded pictures kept between runs
Run = tuple[np.ndarray, float, float] | None


@dataclass
class SetData:
    """One set's files, labels and ground truth over the upper triangle of pairs."""

    name: str
    names: list[str]
    paths: list[str]
    labels: dict[str, Any]
    same: np.ndarray = field(init=False)
    iu: tuple[np.ndarray, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        gid = {n: i for i, g in enumerate(self.labels["groups"]) for n in g}
        g = np.array([gid.get(n, -1 - k) for k, n in enumerate(self.names)])
        self.iu = np.triu_indices(len(self.names), 1)
        self.same = (g[:, None] == g[None, :])[self.iu]


def load_set(root: Path) -> SetData:
    names = sorted(os.listdir(root / "images"))
    labels = json.loads((root / "labels.json").read_text())
    return SetData(root.name, names, [str(root / "images" / n) for n in names], labels)


def tools(paths: list[str]) -> dict[str, Callable[[], Run]]:
    return {
        "dupgate-local": lambda: quality.run_dupgate(paths, "local"),
        "dupgate-verified": lambda: quality.run_dupgate_verified(paths, "local", cache_dir=VERIFY_CACHE),
        "pHash": lambda: quality.run_imagehash(paths, "phash"),
        "dHash": lambda: quality.run_imagehash(paths, "dhash"),
        "czkawka": lambda: quality.run_czkawka(paths),
    }


def per_million(count: int, total: int) -> float | None:
    return None if total == 0 else round(count / total * 1e6, 1)


def hard_negative_rates(data: SetData, scores: np.ndarray, threshold: float) -> dict[str, dict[str, Any]]:
    """False pairs per million among negative pairs whose two images share a family tag."""
    tags = data.labels.get("negatives", {})
    tag_of = np.array([tags.get(n, "") for n in data.names])
    a, b = tag_of[data.iu[0]], tag_of[data.iu[1]]
    out = {}
    for tag in sorted(set(tags.values())):
        mask = (a == tag) & (b == tag) & ~data.same
        fp = int((scores[mask] >= threshold).sum())
        out[tag] = {"fp": fp, "pairs": int(mask.sum()), "fp_per_million": per_million(fp, int(mask.sum()))}
    return out


def edit_family(kind: str) -> str:
    """'edit:crop' -> 'crop'; both sides edited -> 'edit+edit'; natural kinds keep their name."""
    if kind.startswith("edit:"):
        rest = kind.removeprefix("edit:")
        return "edit+edit" if "+" in rest else rest
    return kind.split("+")[0] + ("+edit" if "+edit:" in kind else "")


def recall_by_family(data: SetData, sim: np.ndarray, threshold: float) -> dict[str, float]:
    idx = {n: i for i, n in enumerate(data.names)}
    hits: dict[str, list[bool]] = {}
    for key, kind in data.labels["kinds"].items():
        a, b = key.split("|")
        hits.setdefault(edit_family(kind), []).append(bool(sim[idx[a], idx[b]] >= threshold))
    return {k: round(float(np.mean(v)), 3) for k, v in sorted(hits.items())}


def score(
    evaluate: Callable[..., dict[str, Any]], data: SetData, sim: np.ndarray, threshold: float
) -> dict[str, Any]:
    """evaluate.py's metrics plus false pairs per million, hard-negative rates, family recall."""
    r = evaluate(data.names, sim, data.labels, threshold)
    scores = sim[data.iu]
    negatives = int((~data.same).sum())
    fp = int((scores[~data.same] >= threshold).sum())
    r["negative_pairs"] = negatives
    r["fp_per_million"] = per_million(fp, negatives)
    r["hard_negatives"] = hard_negative_rates(data, scores, threshold)
    r["recall_by_family"] = recall_by_family(data, sim, threshold)
    return r


def loso_threshold(negatives: np.ndarray, candidates: np.ndarray, target: float) -> float | None:
    """Lowest candidate threshold with <= target false pairs per million among `negatives`;
    None when even the highest candidate lets too many through."""
    allowed = int(np.floor(target * 1e-6 * len(negatives)))
    desc = np.sort(negatives)[::-1]
    if allowed >= len(desc):
        return float(candidates.min())
    above = candidates[candidates > desc[allowed]]
    return float(above.min()) if len(above) else None


def leave_one_out(
    evaluate: Callable[..., dict[str, Any]],
    sets: dict[str, SetData],
    sims: dict[str, dict[str, np.ndarray]],
    tool: str,
    target: float,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    have = [s for s in sets if tool in sims[s]]
    for held in have:
        others = [s for s in have if s != held]
        if not others:
            break
        neg = np.concatenate([sims[s][tool][sets[s].iu][~sets[s].same] for s in others])
        cand = np.unique(np.concatenate([sims[s][tool][sets[s].iu] for s in others]))
        t = loso_threshold(neg, cand, target)
        if t is None:
            at_max = int((neg >= cand.max()).sum())
            rate = per_million(at_max, len(neg))
            out[held] = {
                "threshold": None,
                "why": f"none: {at_max} of {len(neg)} negative pairs of the "
                f"other sets score the maximum {cand.max():.4f} ({rate} per million)",
            }
            continue
        out[held] = score(evaluate, sets[held], sims[held][tool], t)
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.0f}"
    return str(v)


def set_table(results: dict[str, dict[str, Any]]) -> str:
    """Rows = metrics, columns = tools, for one set."""
    tools_ = list(results)
    rows: list[tuple[str, list[Any]]] = []
    for m in [*quality.HEADLINE, "fp_per_million", "images_per_s"]:
        rows.append((m, [results[t].get(m) for t in tools_]))
    fams = sorted({f for r in results.values() for f in r["recall_by_family"]})
    rows += [(f"recall {f}", [results[t]["recall_by_family"].get(f) for t in tools_]) for f in fams]
    tags = sorted({g for r in results.values() for g in r["hard_negatives"]})
    for g in tags:
        pairs = next(r["hard_negatives"][g]["pairs"] for r in results.values() if g in r["hard_negatives"])
        rows.append(
            (
                f"fp/M {g} ({pairs} pairs)",
                [results[t]["hard_negatives"].get(g, {}).get("fp_per_million") for t in tools_],
            )
        )
    lines = ["| metric | " + " | ".join(tools_) + " |", "|---|" + "---:|" * len(tools_)]
    lines += [f"| {name} | " + " | ".join(_fmt(v) for v in vals) + " |" for name, vals in rows]
    return "\n".join(lines)


def summary_table(per_set: dict[str, dict[str, dict[str, Any]]]) -> str:
    tools_ = list(dict.fromkeys(t for r in per_set.values() for t in r))
    head = "| set | " + " | ".join(f"{t} F1 / AP / gateR / fp/M" for t in tools_) + " |"
    lines = [head, "|---|" + "---:|" * len(tools_)]
    for s, res in per_set.items():
        cells = []
        for t in tools_:
            r = res.get(t)
            cells.append(
                "-"
                if r is None
                else f"{r['f1']:.3f} / {r['ap']:.3f} / {r['gate_recall']:.3f} / {_fmt(r['fp_per_million'])}"
            )
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def loso_table(loso: dict[str, Any]) -> str:
    lines = [
        "| held-out set | threshold | precision | recall | F1 | gate P | gate R | fp/M | worst hard fp/M |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for s, r in loso.items():
        if r.get("threshold") is None:
            lines.append(f"| {s} | none |" + " - |" * 7)
            notes.append(f"{s}: {r['why']}")
            continue
        hard = [(v["fp_per_million"] or 0.0, g) for g, v in r["hard_negatives"].items()]
        worst = max(hard, default=(0.0, "-"))
        lines.append(
            f"| {s} | {r['threshold']:.4f} | {r['precision']:.3f} | {r['recall']:.3f}"
            f" | {r['f1']:.3f}"
            f" | {r['gate_precision']:.3f} | {r['gate_recall']:.3f} | {_fmt(r['fp_per_million'])}"
            f" | {_fmt(worst[0])} ({worst[1]}) |"
        )
    return "\n".join(lines + ([""] if notes else []) + notes)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--sets", help="comma-separated set names (default: every set in DATA_DIR)")
    ap.add_argument("--json", type=Path, help="write every number here")
    ap.add_argument("--evaluate-path", type=Path, default=quality.DEFAULT_EVALUATE)
    ap.add_argument(
        "--loso-fp",
        type=float,
        default=LOSO_FP_PER_MILLION,
        help="leave-one-set-out target: false pairs per million on the other sets",
    )
    ap.add_argument("--tools", help=f"comma-separated, of {', '.join(tools([]))} (default: all)")
    ap.add_argument(
        "--verify-cache", help="folder for dupgate-verified's decoded pictures, kept between runs"
    )
    args = ap.parse_args(argv)
    global VERIFY_CACHE
    VERIFY_CACHE = args.verify_cache
    chosen = set(args.tools.split(",")) if args.tools else None
    evaluate = quality.load_evaluate(args.evaluate_path)
    names = (
        args.sets.split(",")
        if args.sets
        else sorted(p.name for p in args.data.iterdir() if (p / "labels.json").exists())
    )
    sets = {n: load_set(args.data / n) for n in names}
    per_set: dict[str, dict[str, dict[str, Any]]] = {}
    sims: dict[str, dict[str, np.ndarray]] = {}
    skipped: dict[str, str] = {}
    for s, data in sets.items():
        per_set[s], sims[s] = {}, {}
        for tool, run in tools(data.paths).items():
            if chosen is not None and tool not in chosen:
                continue
            out = run()
            if out is None:
                skipped[tool] = "package not installed (pip install imagehash / czkawka)"
                continue
            sim, threshold, rate = out
            sims[s][tool] = sim
            per_set[s][tool] = score(evaluate, data, sim, threshold) | {"images_per_s": round(rate, 1)}
        positives = int(data.same.sum())
        print(
            f"\n## {s}: {len(data.names)} images, {positives} positive pairs, "
            f"{len(data.same) - positives} negative pairs\n"
        )
        print(set_table(per_set[s]), flush=True)
    print("\n## Summary (default thresholds)\n")
    print(summary_table(per_set))
    all_tools = dict.fromkeys(t for r in sims.values() for t in r)
    loso = {t: leave_one_out(evaluate, sets, sims, t, args.loso_fp) for t in all_tools}
    for tool in ("dupgate-local", "dupgate-verified"):
        if tool in loso:
            print(
                f"\n## {tool}, leave one set out (threshold: lowest with <= {args.loso_fp:g} "
                "false pairs per million on the other sets)\n"
            )
            print(loso_table(loso[tool]))
    for tool, why in skipped.items():
        print(f"skipped {tool}: {why}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"data": str(args.data), "sets": per_set, "leave_one_set_out": loso, "skipped": skipped},
                indent=1,
                default=float,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
