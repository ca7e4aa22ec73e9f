"""`dupgate audit` and `dupgate report`: every near-duplicate pair, as text, JSON, SARIF or a page."""

from __future__ import annotations

import sys

from dupgate_hook import report
from dupgate_hook.embed import Embedded
from dupgate_hook.neighbours import approximate_pairs, index_class
from dupgate_hook.report import Outcome
from dupgate_hook.session import Session, open_session, report_errors, write_html
from dupgate_hook.util import ExitCode


def _audit_outcome(session: Session, paths: list[str], neighbours: int | None) -> tuple[Outcome, Embedded]:
    """Every pair of the images; with `neighbours`, only the pairs an index proposes (approximate)."""
    if neighbours is not None:
        index_class()  # a missing optional package is said before any embedding
    embedded = session.embed_for_audit(paths)
    if neighbours is None:
        return session.outcome(list(embedded.keys), embedded), embedded
    found = approximate_pairs(
        embedded.keys, embedded.table, session.backend, session.threshold, session.allow, neighbours
    )
    n = len(set(embedded.keys.values()))
    print(
        f"dupgate: approximate audit: {found.candidates:,} of {n * (n - 1) // 2:,} pairs scored "
        f"({neighbours} neighbours per view); pairs the index did not propose are not reported",
        file=sys.stderr,
    )
    if found.crowded:
        print(
            f"dupgate: {found.crowded:,} images have {neighbours} or more near-duplicates: some of "
            f"their pairs may be missing (rerun with --neighbours {2 * neighbours} to look further)",
            file=sys.stderr,
        )
    return session.outcome(list(embedded.keys), embedded, found.pairs), embedded


def audit(
    paths: list[str],
    fmt: str,
    backend: str | None,
    threshold: float | None,
    html_path: str | None = None,
    neighbours: int | None = None,
) -> int:
    session = open_session(backend, threshold)
    outcome, embedded = _audit_outcome(session, paths, neighbours)
    if fmt == "json":
        print(report.to_json(outcome))
    elif fmt == "sarif":
        from dupgate_hook import sarif

        print(sarif.dumps(sarif.to_sarif(outcome)), end="")
    else:
        print(report.audit_text(outcome, colour=report.use_colour(sys.stdout)))
    if html_path:
        print(f"dupgate: HTML report: {write_html(session, outcome, html_path)}", file=sys.stderr)
    if report_errors(session, embedded):
        return ExitCode.ERROR
    return ExitCode.FOUND if outcome.blocking else ExitCode.CLEAN


def report_page(
    paths: list[str],
    html_path: str,
    backend: str | None,
    threshold: float | None,
    neighbours: int | None = None,
) -> int:
    """Write the side-by-side page of an audit; exit 0 once it is written (it is for reading)."""
    session = open_session(backend, threshold)
    outcome, embedded = _audit_outcome(session, paths, neighbours)
    written = write_html(session, outcome, html_path)
    count = len(outcome.blocking)
    print(
        f"dupgate: {count} near-duplicate pair{'s' if count != 1 else ''} "
        f"({len(outcome.accepted)} accepted) among {len(outcome.keys)} images: {written}"
    )
    return ExitCode.ERROR if report_errors(session, embedded) else ExitCode.CLEAN
