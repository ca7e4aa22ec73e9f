"""`dupgate check`: the pre-commit hook. Judge what the commit adds, record what passes."""

from __future__ import annotations

import os
import sys

from dupgate_hook import report
from dupgate_hook.manifest import MANIFEST_DIR
from dupgate_hook.paths import ImageRef, git, staged_changes, to_repo_path
from dupgate_hook.session import (
    Session,
    note_other_spaces,
    open_session,
    refuse_outdated_model,
    report_errors,
    write_html,
)
from dupgate_hook.store import recorded_keys, repo_lock, write_pending
from dupgate_hook.util import ExitCode


def check(
    files: list[str],
    backend: str | None,
    threshold: float | None,
    *,
    sarif_path: str | None = None,
    html_path: str | None = None,
) -> int:
    session = open_session(backend, threshold, need_repo="check")
    repo = session.repo
    assert repo is not None and session.stores.manifest is not None
    if not files:
        staged = git(repo.root, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR")
        files = [os.path.join(repo.root, p) for p in staged.split("\0") if p]
    with repo_lock(repo):
        session.stores.manifest.sweep_temp_files()  # so `git add .dupgate` never stages them
        refuse_outdated_model(session)
        switched = note_other_spaces(session)
        tracked = session.tracked_refs(staged=True)  # the commit's content, not the work tree's
        changes = staged_changes(repo)
        refs = dict(tracked)
        probes = []
        for name in files:
            path = to_repo_path(repo, name)
            if not session.keeps(path) or os.path.islink(os.path.join(repo.root, path)):
                continue  # symlinks are checked where their target lives
            if changes is not None and path in changes.moved:
                continue  # a rename adds no image
            probes.append(path)
            refs.setdefault(path, ImageRef(path, os.path.join(repo.root, path)))
        embedded = session.embed(list(refs.values()))
        # What this commit adds and the committed manifest lacks is new too, even when
        # pre-commit handed it to another call of this hook (long file lists are split):
        # checking it in every call gives each call the verdict one call would give, and never
        # records an image that is part of a near-duplicate pair. Images HEAD already holds
        # without vectors (skipped, --no-verify, before dupgate) are recorded, not judged here.
        recorded = recorded_keys(repo, session.stores.manifest)
        unrecorded = [p for p in tracked if p in embedded.keys and embedded.keys[p] not in recorded]
        added = [p for p in unrecorded if changes is None or p in changes.added]
        inherited = len(unrecorded) - len(added)
        new = frozenset(p for p in embedded.keys if changes is None or p in changes.added)
        where = {path: ref.fs_path for path, ref in refs.items()}  # the staged content's pixels
        outcome = session.outcome(list(dict.fromkeys(probes + added)), embedded, new=new, where=where)
        if outcome.blocking:
            colour = report.use_colour(sys.stdout)
            print(report.check_text(outcome, given=set(probes), colour=colour, root=repo.root))
            _write_blocked_page(session, outcome, html_path)
        elif outcome.unverified:
            print("dupgate: " + "\n".join(report.unverified_lines(outcome)))
        sarif_path = sarif_path or os.environ.get("DUPGATE_SARIF") or None
        if sarif_path:
            from dupgate_hook import sarif

            sarif.write_merged(sarif_path, outcome, sarif.state_digest(outcome, session.space()))
        if report_errors(session, embedded):
            return ExitCode.ERROR
        if outcome.blocking:
            return ExitCode.FOUND
        wanted = [embedded.keys[p] for p in tracked if p in embedded.keys]
        to_add = write_pending(repo, session.stores.manifest, embedded.table, wanted, recorded)
    if to_add:
        if inherited:
            why = (
                f"had no vectors for {session.space()} (the manifest holds another model's)"
                if switched
                else "committed earlier without vectors (SKIP=dupgate, --no-verify or before dupgate)"
            )
            print(
                f"dupgate: {inherited} image(s) {why} are recorded now, not judged in this commit; "
                "`dupgate audit` lists their pairs"
            )
        print(
            f"dupgate: no near-duplicates; vectors of {embedded.embedded or 'the'} new image(s) "
            f"were written to {MANIFEST_DIR}/. Stage them and commit again:"
        )
        print("  " + report.git_command(repo.root, "add " + " ".join(to_add)))
        stage_all = report.git_command(repo.root, f"add {MANIFEST_DIR}")
        print(f"(`git commit -a` never stages new files: {stage_all} && git commit -a ...)")
        return ExitCode.UPDATED
    return ExitCode.CLEAN


def _write_blocked_page(session: Session, outcome: report.Outcome, html_path: str | None) -> None:
    """The side-by-side page for a blocked commit, when asked for (flag or `html_report:`)."""
    assert session.repo is not None
    setting = session.config.html_report
    if html_path is None and setting is False:
        return
    if html_path is None:
        html_path = (
            os.path.join(session.repo.git_dir, "dupgate", "report.html")
            if setting is True
            else os.path.join(session.repo.root, str(setting))
        )
    from dupgate_hook import page_state, sarif

    state = sarif.state_digest(outcome, session.space())
    page = os.path.abspath(html_path)
    outcome = page_state.merged(outcome, state, page, page_state.record_path(session.repo.git_dir))
    print(f"dupgate: side-by-side report: {write_html(session, outcome, html_path)}")
