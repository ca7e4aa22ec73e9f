"""`dupgate calibrate`: where this repository's scores fall, and a suggested threshold."""

from __future__ import annotations

import sys
from html import escape

from dupgate_hook import report
from dupgate_hook.calibrate import Calibration, calibrate
from dupgate_hook.session import open_session, report_errors
from dupgate_hook.util import ExitCode

_BAR_WIDTH = 40


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
