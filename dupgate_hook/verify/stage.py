"""The verification stage of the flow: retrieved pairs in, proved pairs out.

compare -> (this) -> report. Retrieval is recall first, so its pairs are only candidates:
each image keeps at most `limit` of them (its best-scoring partners), which bounds the work
on sprite sheets and icon sets where thousands of pairs look alike. Byte-identical pairs are
proved by their bytes; accepted pairs are not checked again (they do not block).
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from dupgate_hook.compare import Pair
from dupgate_hook.verify.evidence import UNVERIFIED, Evidence, unavailable, verify_pictures
from dupgate_hook.verify.pixels import Picture, Pictures

DEFAULT_LIMIT = 8  # candidates per image
_THREADS = 2  # numpy's FFTs and Pillow release the GIL


@dataclass
class Verified:
    proved: list[Pair]  # byte-identical, verified or accepted pairs: what a report lists
    unverified: list[Pair]  # pixels unavailable: reported, never blocking
    rejected: list[Pair]  # the pixels showed different pictures
    skipped: int = 0  # candidates over an image's limit


def shortlist(pairs: list[Pair], limit: int) -> tuple[list[Pair], int]:
    """Pairs, best first, while neither image has `limit` of them yet: at most `limit`
    candidates an image (pairs come best first)."""
    taken: Counter[str] = Counter()
    kept: list[Pair] = []
    skipped = 0
    for pair in pairs:
        if pair.exact or pair.acceptance is not None or (taken[pair.a] < limit and taken[pair.b] < limit):
            kept.append(pair)
            if not pair.exact and pair.acceptance is None:
                taken[pair.a] += 1
                taken[pair.b] += 1
        else:
            skipped += 1
    return kept, skipped


def verify_pairs(
    pairs: list[Pair], keys: dict[str, str], where: dict[str, str], pictures: Pictures, limit: int
) -> Verified:
    """Judge every candidate on its pixels; `where` maps each path to the file to decode."""
    kept, skipped = shortlist(pairs, limit)
    todo = [p for p in kept if not p.exact and p.acceptance is None]

    def judge(pair: Pair) -> Evidence:
        a = pictures.get(keys[pair.a], where[pair.a])
        b = pictures.get(keys[pair.b], where[pair.b])
        for path, pic in ((pair.a, a), (pair.b, b)):
            if not isinstance(pic, Picture):
                return unavailable(f"{pic}: {path}")
        assert isinstance(a, Picture) and isinstance(b, Picture)
        return verify_pictures(a.rgb, b.rgb, a.size, b.size)

    # Threads share `pictures`: decode each picture once before the pairs run in parallel.
    for path in sorted({p for pair in todo for p in (pair.a, pair.b)}):
        pictures.get(keys[path], where[path])
    with ThreadPoolExecutor(_THREADS) as pool:
        evidence = dict(zip(map(id, todo), pool.map(judge, todo), strict=True))
    out = Verified([], [], [], skipped)
    for pair in kept:
        found = evidence.get(id(pair))
        if found is None:
            out.proved.append(pair)
            continue
        judged = replace(pair, evidence=found)
        if found.verdict == UNVERIFIED:
            out.unverified.append(judged)
        elif found.proved:
            out.proved.append(judged)
        else:
            out.rejected.append(judged)
    return out
