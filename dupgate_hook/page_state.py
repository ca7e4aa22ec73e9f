"""One side-by-side page per commit, even when pre-commit splits the commit over hook calls.

pre-commit passes long file lists to a hook in several calls (one after the other: the hook
is `require_serial`). Each call writes the page of what it found, so without this the last
call's page would hide the pairs the earlier calls found. Like SARIF (`sarif.write_merged`),
calls of the same *state* (same images, space and threshold) add up: the pairs and errors
already shown are recorded next to the repository's git data and merged into the next page.
A record of another state, another page path, or that cannot be read is simply replaced.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any

from dupgate_hook.allowlist import Acceptance
from dupgate_hook.compare import Pair
from dupgate_hook.errors import ImageError
from dupgate_hook.report import Outcome, to_json, write_report_file


def merged(outcome: Outcome, state: str, page: str, record: str) -> Outcome:
    """`outcome` plus what an earlier call of the same state recorded for `page`; records the sum."""
    earlier = _read(record, state, page)
    pairs = {(p.a, p.b): p for p in _pairs(earlier, outcome.keys)}
    errors = {e.path: e for e in _errors(earlier)}
    pairs.update({(p.a, p.b): p for p in outcome.pairs})  # this call's own findings win
    errors.update({e.path: e for e in outcome.errors})
    total = replace(
        outcome,
        pairs=sorted(pairs.values(), key=lambda p: (-p.score, p.a, p.b)),
        errors=[errors[path] for path in sorted(errors)],
    )
    shown = json.loads(to_json(total))
    body = {"state": state, "page": page, "report": {k: shown[k] for k in ("pairs", "errors")}}
    write_report_file(record, json.dumps(body, ensure_ascii=False), "report record")
    return total


def _read(record: str, state: str, page: str) -> dict[str, Any]:
    try:
        with open(record, encoding="utf-8") as f:
            body = json.load(f)
        if body["state"] == state and body["page"] == page and isinstance(body["report"], dict):
            report: dict[str, Any] = body["report"]
            return report
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or broken: start afresh
    return {}


def _pairs(earlier: dict[str, Any], keys: dict[str, str]) -> list[Pair]:
    out: list[Pair] = []
    items = earlier.get("pairs")
    for item in items if isinstance(items, list) else []:
        try:
            a, b, score = item["a"], item["b"], item["score"]
            if not (a in keys and b in keys and isinstance(score, (int, float))):
                continue
            acceptance = Acceptance(str(item["reason"]), bool(item["baseline"])) if item["allowed"] else None
            out.append(Pair(a, b, float(score), bool(item["exact"]), acceptance))
        except (KeyError, TypeError):
            continue
    return out


def _errors(earlier: dict[str, Any]) -> list[ImageError]:
    out: list[ImageError] = []
    items = earlier.get("errors")
    for item in items if isinstance(items, list) else []:
        path, error = (item.get("path"), item.get("error")) if isinstance(item, dict) else (None, None)
        if isinstance(path, str) and isinstance(error, str):
            out.append(ImageError(path, error))
    return out


def record_path(git_dir: str) -> str:
    return os.path.join(git_dir, "dupgate", "report-record.json")
