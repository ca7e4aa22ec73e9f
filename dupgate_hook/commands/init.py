"""`dupgate init` and `dupgate update`: embed every tracked image; init records a baseline."""

from __future__ import annotations

import sys

from dupgate_hook import report
from dupgate_hook.allowlist import write_allow_file
from dupgate_hook.manifest import MANIFEST_DIR
from dupgate_hook.session import open_session, report_errors
from dupgate_hook.store import recorded_keys, repo_lock, write_pending
from dupgate_hook.util import ExitCode


def init(baseline: bool, command: str = "init") -> int:
    session = open_session(need_repo=command)
    repo = session.repo
    assert repo is not None and session.stores.manifest is not None
    with repo_lock(repo):
        session.stores.manifest.sweep_temp_files()
        refs = session.tracked_refs()
        embedded = session.embed(list(refs.values()))
        if report_errors(session, embedded):
            return ExitCode.ERROR
        in_manifest = recorded_keys(repo, session.stores.manifest)
        to_add = write_pending(
            repo, session.stores.manifest, embedded.table, list(embedded.keys.values()), in_manifest
        )
        recorded = session.outcome(list(embedded.keys), embedded).blocking if baseline else []
        # Without a baseline, pairs nobody accepted (skipped, --no-verify) are said, not accepted:
        # every pair, since a later commit may have recorded the skipped images already.
        unjudged = [] if baseline else session.outcome(list(embedded.keys), embedded).blocking
        if recorded:
            pairs = [
                {
                    "a": embedded.keys[p.a],
                    "b": embedded.keys[p.b],
                    "a_path": p.a,
                    "b_path": p.b,
                    "reason": f"score {p.score:.3f} when dupgate was adopted",
                }
                for p in recorded
            ]
            to_add.append(write_allow_file(repo.root, pairs, baseline=True, stem="baseline"))
    done = f"dupgate: {len(embedded.keys)} images in the manifest ({embedded.embedded} embedded now); "
    if baseline:
        print(done + f"{len(recorded)} existing near-duplicate pair(s) recorded as the baseline.")
    else:
        print(done + "the baseline is unchanged.")
    if unjudged:
        print(
            f"dupgate: {len(unjudged)} near-duplicate pair(s) in the repository are neither allowed nor "
            "in the baseline; their vectors are recorded, the pairs were not accepted (`dupgate allow "
            "A B --reason ...` accepts one, `dupgate init` records all as the baseline):"
        )
        print("\n".join(report.pair_lines(unjudged, session.threshold, report.use_colour(sys.stdout))))
    if to_add:
        print("Stage the manifest:  " + report.git_command(repo.root, f"add {MANIFEST_DIR}"))
    return ExitCode.CLEAN
