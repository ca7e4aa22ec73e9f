"""Accepted pairs: `dupgate allow` entries and the `dupgate init` baseline.

Each accepted pair is stored by content key under `.dupgate/allow/`, one small JSON file per
`allow` call (so branches never conflict), which is why an accepted pair survives renames.
Glob rules from `.dupgate.yaml` cover whole families of files (e.g. thumbnails).
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass

from dupgate_hook.config import AllowRule
from dupgate_hook.errors import DupgateError
from dupgate_hook.manifest import MANIFEST_DIR, read_json
from dupgate_hook.util import atomic_write

ALLOW_DIR = "allow"
SCHEMA = 1


@dataclass(frozen=True)
class Acceptance:
    reason: str
    baseline: bool


class AllowList:
    def __init__(self, rules: tuple[AllowRule, ...] = ()) -> None:
        self.rules = rules
        self.by_keys: dict[frozenset[str], Acceptance] = {}

    def add(self, key_a: str, key_b: str, acceptance: Acceptance) -> None:
        self.by_keys.setdefault(frozenset((key_a, key_b)), acceptance)

    def lookup(self, path_a: str, key_a: str, path_b: str, key_b: str) -> Acceptance | None:
        hit = self.by_keys.get(frozenset((key_a, key_b)))
        if hit is not None:
            return hit
        for rule in self.rules:
            if (_match(path_a, rule.a) and _match(path_b, rule.b)) or (
                _match(path_b, rule.a) and _match(path_a, rule.b)
            ):
                return Acceptance(rule.reason, baseline=False)
        return None


def _match(path: str, glob: str) -> bool:
    return fnmatch.fnmatchcase(path, glob)


def allow_folder(root: str) -> str:
    return os.path.join(root, MANIFEST_DIR, ALLOW_DIR)


def load_allowlist(root: str | None, rules: tuple[AllowRule, ...]) -> AllowList:
    allow = AllowList(rules)
    if root is None:
        return allow
    folder = allow_folder(root)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except FileNotFoundError:
        return allow
    for name in names:
        label = f"{MANIFEST_DIR}/{ALLOW_DIR}/{name}"
        data = read_json(os.path.join(folder, name), label, "allow file")
        for key_a, key_b, acceptance in _entries(label, data):
            allow.add(key_a, key_b, acceptance)
    return allow


def _entries(label: str, data: object) -> list[tuple[str, str, Acceptance]]:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("pairs"), list):
        raise DupgateError(f"{label}: not a dupgate allow file (schema {SCHEMA} with a 'pairs' list)")
    baseline = data.get("baseline") is True
    out = []
    for i, pair in enumerate(data["pairs"]):
        if not isinstance(pair, dict):
            raise DupgateError(f"{label}: pairs[{i}] must be an object")
        a, b, reason = pair.get("a"), pair.get("b"), pair.get("reason", "")
        if not (isinstance(a, str) and isinstance(b, str) and isinstance(reason, str)):
            raise DupgateError(f"{label}: pairs[{i}] needs string keys 'a' and 'b'")
        out.append((a, b, Acceptance(reason, baseline)))
    return out


def write_allow_file(root: str, pairs: list[dict[str, str]], *, baseline: bool, stem: str) -> str:
    """Write one allow file; its name comes from its pairs, so rerunning is harmless."""
    import hashlib  # here: the hook never writes one

    folder = allow_folder(root)
    os.makedirs(folder, exist_ok=True)
    digest = hashlib.sha256(json.dumps(sorted((p["a"], p["b"]) for p in pairs)).encode()).hexdigest()[:12]
    name = f"{stem}-{digest}.json"
    body = {"schema": SCHEMA, "baseline": baseline, "pairs": pairs}
    text = json.dumps(body, indent=1, ensure_ascii=False) + "\n"
    atomic_write(os.path.join(folder, name), lambda f: f.write(text.encode()), f"{MANIFEST_DIR}/{ALLOW_DIR}")
    return f"{MANIFEST_DIR}/{ALLOW_DIR}/{name}"
