"""Command line: parse, dispatch to `commands/`, turn known failures into one line and exit 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from dupgate_hook import __version__
from dupgate_hook.backends import BACKEND_NAMES
from dupgate_hook.errors import DupgateError
from dupgate_hook.images import is_image_path
from dupgate_hook.neighbours import DEFAULT_NEIGHBOURS
from dupgate_hook.util import ExitCode


def _in_range(kind: type[float] | type[int], low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number of `kind` between low and high, or a one-line reason."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, not {text}")
        return value

    return parse


_threshold = _in_range(float, 0.0, 1.0)
_count = _in_range(int, 1, 1000)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dupgate",
        description="Stop near-duplicate images from entering a repository.",
        epilog="Exit codes: 0 clean, 1 near-duplicates found, 2 error, 3 manifest updated (git add it).",
    )
    parser.add_argument("--version", action="version", version=f"dupgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def scoring(p: argparse.ArgumentParser) -> None:
        p.add_argument("--backend", choices=BACKEND_NAMES, help="overrides .dupgate.yaml")
        p.add_argument("--threshold", type=_threshold, help="similarity at or above which a pair is reported")

    def html(p: argparse.ArgumentParser, required: bool = False, what: str = "side-by-side report") -> None:
        p.add_argument("--html", metavar="OUT", required=required, help=f"write a self-contained HTML {what}")

    def approximate(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--approximate",
            action="store_true",
            help="score only the pairs a nearest-neighbour index proposes (large repos; needs usearch)",
        )
        p.add_argument(
            "--neighbours",
            type=_count,
            metavar="K",
            help=f"with --approximate: neighbours per view (default {DEFAULT_NEIGHBOURS}; more finds more)",
        )

    p = sub.add_parser("check", help="the pre-commit hook: check staged images (default: all staged)")
    p.add_argument("files", nargs="*", metavar="FILE")
    scoring(p)
    html(p, what="report when pairs are found")
    p.add_argument("--sarif", metavar="OUT", help="write SARIF 2.1.0 results (also: DUPGATE_SARIF=OUT)")
    p = sub.add_parser("audit", help="report every near-duplicate pair, grouped into clusters")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the repository)")
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    scoring(p)
    html(p)
    approximate(p)
    p = sub.add_parser("report", help="write an HTML page of every near-duplicate pair, side by side")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the repository)")
    scoring(p)
    html(p, required=True)
    approximate(p)
    p = sub.add_parser("calibrate", help="show where this repository's scores fall; suggest a threshold")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the repository)")
    scoring(p)
    html(p, what="page with the score chart and the pairs near the threshold")
    p = sub.add_parser("init", help="embed every tracked image; record existing pairs as a baseline")
    p.add_argument("--no-baseline", action="store_true", help="do not accept existing pairs")
    sub.add_parser("update", help="embed every tracked image the manifest lacks (no baseline)")
    p = sub.add_parser("allow", help="accept a near-duplicate pair (survives renames)")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--reason", required=True, help="why this pair is fine (kept in the repo)")
    for name in ("prune", "compact"):
        p = sub.add_parser(name, help="drop vectors of images no longer tracked; merge packs into one")
        p.add_argument(
            "--all-backends", action="store_true", help="also delete vectors made by other backends or models"
        )
    return parser


def _files_after_double_dash(argv: list[str]) -> list[str]:
    """pre-commit passes file names as they are, so `-x.png` must not read as an option."""
    if not argv or argv[0] != "check" or "--" in argv:
        return argv
    options, files = [], []
    rest = iter(argv[1:])
    for arg in rest:
        if arg in ("--backend", "--threshold", "--html", "--sarif"):
            options += [arg, next(rest, "")]
        elif arg.startswith("-") and not is_image_path(arg):
            options.append(arg)
        else:
            files.append(arg)
    return ["check", *options, "--", *files]


def _keep_freed_memory() -> None:
    """glibc only: serve arrays up to 32 MB from the heap and keep freed memory for reuse.

    The hook is a short process that scores blocks of stored images, allocating and freeing
    the same MB-sized numpy temporaries per block. By default glibc maps each of them afresh
    and the kernel zeroes every page again: ~10% of a one-image check at 10,000 images
    (benchmarks/README.md). Elsewhere (or if the call is missing) nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # numpy has imported it already

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest allowed value
    mallopt(m_trim_threshold, 512 << 20)


def _run(args: argparse.Namespace, own_process: bool, neighbours: int | None) -> int:
    """The subcommand's module, imported only when it runs (the hook pays for `check` alone)."""
    if args.command == "check":
        from dupgate_hook.commands.check import check

        if own_process:  # the hook's own process, not a caller's
            _keep_freed_memory()
        return check(args.files, args.backend, args.threshold, sarif_path=args.sarif, html_path=args.html)
    if args.command == "audit":
        from dupgate_hook.commands.audit import audit

        return audit(args.paths, args.format, args.backend, args.threshold, args.html, neighbours)
    if args.command == "report":
        from dupgate_hook.commands.audit import report_page

        return report_page(args.paths, args.html, args.backend, args.threshold, neighbours)
    if args.command == "calibrate":
        from dupgate_hook.commands.calibrate import calibrate_command

        return calibrate_command(args.paths, args.html, args.backend, args.threshold)
    if args.command in ("init", "update"):
        from dupgate_hook.commands.init import init

        return init(baseline=args.command == "init" and not args.no_baseline, command=args.command)
    if args.command == "allow":
        from dupgate_hook.commands.allow import allow

        return allow(args.a, args.b, args.reason)
    from dupgate_hook.commands.prune import prune  # prune and compact

    return prune(args.all_backends)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(_files_after_double_dash(list(sys.argv[1:] if argv is None else argv)))
    neighbours = None
    if args.command in ("audit", "report"):
        if args.neighbours is not None and not args.approximate:
            parser.error("--neighbours only applies with --approximate")
        neighbours = (args.neighbours or DEFAULT_NEIGHBOURS) if args.approximate else None
    try:
        return _run(args, argv is None, neighbours)
    except DupgateError as exc:
        print(f"dupgate: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return ExitCode.ERROR
    except KeyboardInterrupt:
        print("dupgate: interrupted (vectors already computed are cached)", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # never a bare traceback in a commit hook
        if os.environ.get("DUPGATE_DEBUG"):
            raise
        print(
            f"dupgate: error: unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:300]} "
            "(set DUPGATE_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return ExitCode.ERROR


if __name__ == "__main__":
    raise SystemExit(main())
