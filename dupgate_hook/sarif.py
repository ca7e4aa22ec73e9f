"""SARIF 2.1.0, so code scanning (e.g. GitHub's) annotates the near-duplicate image files.

One result per pair, located at the pair's second image with the first as a related
location; accepted pairs are kept as results with a suppression (SARIF's way of saying
"known and accepted"), unreadable images are results of their own rule. Paths are
repository-relative URIs against %SRCROOT%.

pre-commit may split a long file list (`--all-files` in CI) over several calls of the hook,
each writing the same SARIF file. A file written for the same repository state (same
images, manifest space, threshold) is merged rather than overwritten, so the last call's
file holds every call's results; a file from another state is replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any
from urllib.parse import quote

from dupgate_hook import __version__
from dupgate_hook.compare import Pair
from dupgate_hook.report import Outcome, write_report_file

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/dupgate/dupgate-hook"


def _rule(rule_id: str, name: str, short: str, full: str, help_text: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": "error"},
    }


RULES = [
    _rule(
        "DG001",
        "NearDuplicateImage",
        "Near-duplicate image",
        "This image is a near-duplicate of another image in the repository (same picture "
        "re-exported, resized, recoloured, cropped or overlaid).",
        "Remove one of the two images, or accept the pair with "
        '`dupgate allow A B --reason "..."` and commit .dupgate/allow/.',
    ),
    _rule(
        "DG002",
        "ExactDuplicateImage",
        "Exact duplicate image",
        "This image has the same bytes as another image in the repository.",
        "Remove the copy and refer to one file, or accept the pair with `dupgate allow`.",
    ),
    _rule(
        "DG003",
        "UnreadableImage",
        "Unreadable image",
        "dupgate could not decode this image, so it was not compared.",
        "Fix the file, or exclude it with `exclude:` in .dupgate.yaml.",
    ),
]
_RULE_INDEX = {rule["id"]: n for n, rule in enumerate(RULES)}


def to_sarif(outcome: Outcome, state: str = "") -> dict[str, Any]:
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "dupgate",
                "version": __version__,
                "informationUri": INFO_URI,
                "rules": RULES,
            }
        },
        "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root."}}},
        "results": [_pair_result(p, outcome.threshold) for p in outcome.pairs]
        + [_error_result(e.path, e.reason) for e in outcome.errors],
        "properties": {
            "backend": outcome.backend,
            "model": outcome.model,
            "threshold": outcome.threshold,
            "images": len(outcome.keys),
            "dupgateState": state,
        },
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def dumps(log: dict[str, Any]) -> str:
    return json.dumps(log, indent=1, ensure_ascii=False) + "\n"


def write_merged(path: str, outcome: Outcome, state: str) -> None:
    """Write this call's results to `path`, keeping those an earlier call of the same state wrote."""
    log = to_sarif(outcome, state)
    earlier = _read_same_state(path, state)
    if earlier:
        run = log["runs"][0]
        seen = {_identity(r) for r in run["results"]}
        run["results"] += [r for r in earlier if _identity(r) not in seen]
        run["results"].sort(key=_identity)
    write_report_file(path, dumps(log), "SARIF report")


def state_digest(outcome: Outcome, space: str) -> str:
    """What makes two calls' results belong to one report: the images and the scoring."""
    h = hashlib.sha256(f"{space}\0{outcome.threshold!r}\0".encode())
    for path, key in sorted(outcome.keys.items()):
        h.update(f"{path}\0{key}\0".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:32]


def _read_same_state(path: str, state: str) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            log = json.load(f)
        run = log["runs"][0]
        if run["properties"]["dupgateState"] != state or run["tool"]["driver"]["name"] != "dupgate":
            return []
        results = run["results"]
        return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return []  # absent, another tool's or broken: replace it


def _identity(result: dict[str, Any]) -> str:
    fingerprints = result.get("partialFingerprints")
    return str(fingerprints.get("dupgate/v1", "")) if isinstance(fingerprints, dict) else ""


def _location(path: str, index: int | None = None) -> dict[str, Any]:
    # An image has no lines, but GitHub code scanning shows a location only with a start line.
    loc: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(path), "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": 1},
        }
    }
    if index is not None:
        loc["id"] = index
        loc["message"] = {"text": path}
    return loc


def _uri(path: str) -> str:
    return quote(path.replace(os.sep, "/"), safe="/")


def _pair_result(pair: Pair, threshold: float) -> dict[str, Any]:
    a, b = _plain(pair.a), _plain(pair.b)
    if pair.exact:
        text = f"{b} has the same bytes as [{a}](0)."
    else:
        text = f"{b} is a near-duplicate of [{a}](0): score {pair.score:.3f}, threshold {threshold:.2f}."
    if pair.evidence is not None:  # what the pixels proved
        text += " " + _plain(pair.evidence.sentence(pair.a, pair.b)) + "."
    result: dict[str, Any] = {
        **_rule_ref("DG002" if pair.exact else "DG001"),
        "level": "error",
        "message": {"text": text},
        "locations": [_location(pair.b)],
        "relatedLocations": [_location(pair.a, 0)],
        "partialFingerprints": {"dupgate/v1": _fingerprint("pair", pair.a, pair.b)},
        "properties": {"score": round(pair.score, 4), "other": pair.a},
    }
    if pair.evidence is not None:
        result["properties"]["evidence"] = pair.evidence.to_json()
    if pair.acceptance is not None:
        kind = "baseline" if pair.acceptance.baseline else "allow list"
        result["suppressions"] = [{"kind": "external", "justification": f"{kind}: {pair.acceptance.reason}"}]
    return result


def _error_result(path: str, reason: str) -> dict[str, Any]:
    return {
        **_rule_ref("DG003"),
        "level": "error",
        "message": {"text": f"{path}: {reason}"},
        "locations": [_location(path)],
        "partialFingerprints": {"dupgate/v1": _fingerprint("error", path, reason)},
    }


def _rule_ref(rule_id: str) -> dict[str, Any]:
    return {"ruleId": rule_id, "ruleIndex": _RULE_INDEX[rule_id]}


def _plain(text: str) -> str:
    """Escape what SARIF message text reads as link syntax (section 3.11.6)."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]
