"""Commands for looking, not gating: the audit, the HTML report and threshold calibration."""

from __future__ import annotations

import sys
from html import escape

from dupgate_hook import report
from dupgate_hook.calibrate import Calibration, calibrate
from dupgate_hook.commands import Session, open_session, report_errors, write_html
from dupgate_hook.embed import Embedded
from dupgate_hook.neighbours import approximate_pairs, index_class
from dupgate_hook.report import Outcome
from dupgate_hook.util import ExitCode

_BAR_WIDTH = 40


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


def calibrate_command(
    paths: list[str], html_path: str | None, backend: str | None, threshold: float | None
) -> int:
    session = open_session(backend, threshold)
    embedded = session.embed_for_audit(paths)
    if report_errors(session, embedded):
        return ExitCode.ERROR
    if len(embedded.keys) < 2:
        print("dupgate calibrate: fewer than two images, nothing to compare")
        return ExitCode.CLEAN
    cal = calibrate(
        embedded.keys,
        embedded.table,
        session.backend.similarity,
        session.threshold,
        session.backend.default_threshold,
        session.allow,
    )
    colour = report.use_colour(sys.stdout)
    print(histogram_text(cal, colour))
    print()
    for label, pairs in (
        ("Pairs just at or above the threshold (reported):", cal.just_above),
        ("Pairs just below the threshold (not reported):", cal.just_below),
    ):
        print(label)
        print("\n".join(report.pair_lines(pairs, cal.threshold, colour)) or "  none")
    print()
    print("\n".join(cal.reasoning))
    if not html_path:
        print("To see those pairs side by side: dupgate calibrate --html calibrate.html")
    if html_path:
        from dupgate_hook import html_report

        thumbs = session.thumbs()
        meta = (
            f"{cal.images} images · backend {session.backend.name}/{session.backend.model} · "
            f"threshold {cal.threshold:.2f} · suggested {cal.suggested:.2f}"
        )
        page = html_report.page(
            "dupgate calibration",
            "Where this repository's scores fall",
            escape(meta),
            html_report.calibration_section(cal, thumbs),
        )
        print(f"dupgate: HTML page: {report.write_report_file(html_path, page, 'HTML page')}")
    return ExitCode.CLEAN


def histogram_text(cal: Calibration, colour: bool) -> str:
    """One line a bin: range, count, bar; the bins holding the threshold and suggestion marked."""
    top = max(b.count for b in cal.bins) or 1
    block = "█" if (sys.stdout.encoding or "").lower().replace("-", "") == "utf8" else "#"
    lines = [f"Nearest-neighbour score of each image ({cal.images} images):"]
    for b in cal.bins:
        bar = block * (round(_BAR_WIDTH * b.count / top) if b.count else 0)
        if b.count and not bar:
            bar = block  # a lone image still shows
        marks = []
        if not b.below_floor and b.low <= cal.threshold < b.high + (1e-9 if b.high >= 1.0 else 0):
            marks.append(report.paint(f"<- threshold {cal.threshold:.2f}", "red", colour))
        if not b.below_floor and b.low <= cal.suggested < b.high and cal.suggested != cal.threshold:
            marks.append(report.paint(f"<- suggested {cal.suggested:.2f}", "green", colour))
        lines.append(f"  {b.label:>13} {b.count:>6} {bar:<{_BAR_WIDTH}} {' '.join(marks)}".rstrip())
    return "\n".join(lines)
