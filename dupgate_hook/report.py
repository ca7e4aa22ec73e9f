"""Render the outcome for people (text) and for programs (JSON)."""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from typing import Any, TextIO

from dupgate_hook.compare import Pair, clusters
from dupgate_hook.errors import DupgateError, ImageError
from dupgate_hook.progress import is_terminal
from dupgate_hook.util import atomic_write


@dataclass
class Outcome:
    backend: str
    model: str
    dimensions: int
    threshold: float
    keys: dict[str, str]
    pairs: list[Pair]
    errors: list[ImageError] = field(default_factory=list)
    new: frozenset[str] = frozenset()  # paths the commit adds (the hook's page marks them)
    unverified: list[Pair] = field(default_factory=list)  # candidates whose pixels were unavailable
    rejected: int = 0  # candidates the pixels showed to be different pictures
    skipped: int = 0  # candidates over an image's `candidates` limit

    @property
    def blocking(self) -> list[Pair]:
        return [p for p in self.pairs if p.acceptance is None]

    @property
    def accepted(self) -> list[Pair]:
        return [p for p in self.pairs if p.acceptance is not None]


def to_json(outcome: Outcome) -> str:
    pairs: list[dict[str, Any]] = []
    for p in outcome.pairs:
        entry: dict[str, Any] = {
            "a": p.a,
            "b": p.b,
            "score": round(p.score, 4),
            "allowed": p.acceptance is not None,
            "exact": p.exact,
        }
        if p.acceptance is not None:
            entry["reason"] = p.acceptance.reason
            entry["baseline"] = p.acceptance.baseline
        if p.evidence is not None:
            entry["evidence"] = p.evidence.to_json()
            entry["proof"] = p.evidence.sentence(p.a, p.b)
        pairs.append(entry)
    body = {
        "backend": outcome.backend,
        "model": outcome.model,
        "dimensions": outcome.dimensions,
        "threshold": outcome.threshold,
        "images": [{"path": path, "key": key} for path, key in sorted(outcome.keys.items())],
        "pairs": pairs,
        "clusters": clusters(outcome.blocking),
        "errors": [{"path": e.path, "error": e.reason} for e in outcome.errors],
        "unverified": [
            {"a": p.a, "b": p.b, "score": round(p.score, 4), "note": evidence_text(p)}
            for p in outcome.unverified
        ],
        "candidates_rejected": outcome.rejected,
        "candidates_over_limit": outcome.skipped,
    }
    return json.dumps(body, indent=1, ensure_ascii=False)


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, never with NO_COLOR set (https://no-color.org)."""
    return not os.environ.get("NO_COLOR") and is_terminal(stream)


def paint(text: str, style: str, colour: bool) -> str:
    codes = {"bold": "1", "dim": "2", "red": "1;31", "green": "32", "yellow": "33"}
    return f"\x1b[{codes[style]}m{text}\x1b[0m" if colour else text


def pair_lines(
    pairs: list[Pair], threshold: float, colour: bool = False, width: int | None = None
) -> list[str]:
    """One line a pair, the second path in a column of its own so a list reads at a glance."""
    lines = []
    width = column_width(pairs) if width is None else width
    for p in pairs:
        note = "exact duplicate: identical bytes" if p.exact else f"threshold {threshold:.2f}"
        if p.acceptance is not None:
            note += f"; {acceptance_text(p)}"
        score = paint(f"{p.score:.3f}", "red" if p.acceptance is None else "green", colour)
        note = paint(f"({note})", "dim", colour)
        lines.append(f"  {score}  {show(p.a):<{width}}  <->  {show(p.b)}  {note}")
        if p.evidence is not None:
            lines.append(f"         {paint(evidence_text(p), 'dim', colour)}")
    return lines


def evidence_text(pair: Pair) -> str:
    """What the pixels proved about the pair, in one line (empty when they were not asked)."""
    return show(pair.evidence.sentence(pair.a, pair.b)) if pair.evidence is not None else ""


def unverified_lines(outcome: Outcome) -> list[str]:
    """Candidates whose pixels could not be read: said, never blocking (docs/verification.md)."""
    if not outcome.unverified:
        return []
    lines = [f"{len(outcome.unverified)} candidate pair(s) not verified (not blocking):"]
    lines += [f"  {show(p.a)}  <->  {show(p.b)}  ({evidence_text(p)})" for p in outcome.unverified]
    return lines


def acceptance_text(pair: Pair) -> str:
    """`allowed: REASON` or `baseline: REASON` (baselines recorded before 0.1.1 said it twice)."""
    assert pair.acceptance is not None
    if not pair.acceptance.baseline:
        return f"allowed: {pair.acceptance.reason}"
    return "baseline: " + pair.acceptance.reason.removeprefix("baseline: ")


def allow_command(pair: Pair) -> str:
    return f'dupgate allow {shlex.quote(pair.a)} {shlex.quote(pair.b)} --reason "..."'


def column_width(pairs: list[Pair]) -> int:
    return min(60, max((len(show(p.a)) for p in pairs), default=0))


def git_command(root: str, args: str) -> str:
    """`git ARGS` to print for copy-paste, working from where the user is.

    Paths in ARGS are repo-relative. pre-commit runs hooks at the repository root while the
    user may sit in a subfolder, so under it (and from a subfolder) the command names the root.
    """
    if os.environ.get("PRE_COMMIT") or os.path.realpath(os.getcwd()) != os.path.realpath(root):
        return f"git -C {shlex.quote(root)} {args}"
    return f"git {args}"


def check_text(
    outcome: Outcome, given: set[str] | None = None, colour: bool = False, root: str | None = None
) -> str:
    """The message a blocked commit shows: the pairs, then the ways forward.

    `given` are the files this call was handed; a pair of two others is between images this
    commit adds that pre-commit handed to another call (it splits long file lists).
    """
    blocking = outcome.blocking
    count = len(blocking)
    lines = [
        paint(f"dupgate: {count} near-duplicate pair{'s' if count != 1 else ''} found", "bold", colour)
        + f" (backend {outcome.backend}/{outcome.model}, threshold {outcome.threshold:.2f}):",
        *pair_lines(blocking, outcome.threshold, colour),
        *unverified_lines(outcome),
        "",
        "If a pair is intended, accept it (kept in .dupgate/allow/, then "
        f"`{git_command(root, 'add .dupgate') if root else 'git add .dupgate'}`):",
        "  " + allow_command(blocking[0]),
        "To commit anyway this once:  SKIP=dupgate git commit ...",
    ]
    if given is not None and any(p.a not in given and p.b not in given for p in blocking):
        lines.append(
            "Some pairs are between other images this commit adds (pre-commit split the file list "
            "over several calls of the hook)."
        )
    return "\n".join(lines)


def audit_text(outcome: Outcome, colour: bool = False) -> str:
    blocking = outcome.blocking
    groups = clusters(blocking)
    lines = [
        f"dupgate audit: {len(outcome.keys)} image{'' if len(outcome.keys) == 1 else 's'}, "
        f"backend {outcome.backend}/{outcome.model}, "
        f"threshold {outcome.threshold:.2f}",
    ]
    if not blocking:
        lines.append("no near-duplicate pairs")
    width = column_width(outcome.pairs)
    for n, group in enumerate(groups, 1):
        members = set(group)
        lines.append(paint(f"cluster {n} ({len(group)} images):", "bold", colour))
        lines.extend(pair_lines([p for p in blocking if p.a in members], outcome.threshold, colour, width))
    if outcome.accepted:
        lines.append(f"{len(outcome.accepted)} accepted pair(s) (allow list or baseline):")
        lines.extend(pair_lines(outcome.accepted, outcome.threshold, colour, width))
    lines.extend(unverified_lines(outcome))
    if outcome.rejected:
        lines.append(
            f"{outcome.rejected} candidate pair(s) looked alike but their pixels differ (not reported)"
        )
    if outcome.errors:
        lines.append(f"{len(outcome.errors)} image(s) could not be read:")
        lines.extend(f"  {show(e.path)}: {e.reason}" for e in outcome.errors)
    return "\n".join(lines)


def show(path: str) -> str:
    """A path on one line: control characters (e.g. newlines in names) are escaped."""
    if path.isprintable():
        return path
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in path)


def write_report_file(path: str, text: str, what: str) -> str:
    """Write a report atomically (a half-written page is worse than none); return its absolute path."""
    target = os.path.abspath(path)
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
    except OSError as exc:
        raise DupgateError(f"{path}: cannot write the {what} ({exc.strerror or exc})") from None
    atomic_write(target, lambda f: f.write(text.encode("utf-8")), f"{path} ({what})")
    return target
