"""The commands, each a straight walk down the flow: paths, embed, manifest, compare, report."""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from dupgate_hook import report
from dupgate_hook.allowlist import AllowList, load_allowlist, write_allow_file
from dupgate_hook.backends import get_backend
from dupgate_hook.backends.base import Backend, space_id
from dupgate_hook.compare import Pair, find_pairs
from dupgate_hook.config import Config, load_config, with_overrides
from dupgate_hook.embed import Embedded, embed_all
from dupgate_hook.errors import DupgateError
from dupgate_hook.images import is_image_path
from dupgate_hook.manifest import MANIFEST_DIR, VECTORS_DIR, VectorTable
from dupgate_hook.paths import (
    ImageRef,
    Repo,
    find_repo,
    git,
    selected,
    staged_changes,
    staged_files,
    to_repo_path,
    tracked_images,
    walk_images,
    worktree_changed,
)
from dupgate_hook.store import Stores, cache_root, open_stores, recorded_keys, repo_lock, write_pending
from dupgate_hook.util import ExitCode

if TYPE_CHECKING:
    from dupgate_hook.html_report import Thumbs


@dataclass
class Session:
    """Everything a command needs, resolved once from the repo, the config and the flags."""

    repo: Repo | None
    config: Config
    backend: Backend
    stores: Stores
    allow: AllowList

    @property
    def threshold(self) -> float:
        return self.config.threshold if self.config.threshold is not None else self.backend.default_threshold

    def embed(self, refs: list[ImageRef], progress: bool | None = None) -> Embedded:
        return embed_all(
            refs,
            self.backend,
            self.stores,
            object_format=self.repo.object_format if self.repo else "sha1",
            max_pixels=self.config.max_image_pixels,
            show_progress=progress,
        )

    def outcome(
        self,
        probes: list[str],
        embedded: Embedded,
        pairs: list[Pair] | None = None,
        new: frozenset[str] = frozenset(),
    ) -> report.Outcome:
        """The report of `probes` against every image; `pairs` when they were found another way."""
        if pairs is None:
            pairs = find_pairs(
                probes, embedded.keys, embedded.table, self.backend.similarity, self.threshold, self.allow
            )
        return report.Outcome(
            self.backend.name,
            self.backend.model,
            self.backend.dimensions,
            self.threshold,
            embedded.keys,
            pairs,
            embedded.errors,
            new,
        )

    def tracked_refs(self, staged: bool = False) -> dict[str, ImageRef]:
        """The tracked images; `staged`: their index content, even where the work tree differs."""
        assert self.repo is not None
        prefix = os.path.join(self.repo.root, "")
        include, exclude = self.config.include, self.config.exclude
        tracked = tracked_images(self.repo, staged=staged)  # images only: no need to ask `keeps`
        unmatched = [g for g in include if not any(fnmatch.fnmatchcase(p, g) for p in tracked)]
        for glob in unmatched:
            print(f"dupgate: warning: include: {glob!r} matches no tracked image", file=sys.stderr)
        if include or exclude:
            tracked = {p: k for p, k in tracked.items() if selected(p, include, exclude)}
        refs = {path: ImageRef(path, prefix + path, key or None) for path, key in tracked.items()}
        if staged:
            changed = {p: tracked[p] for p in worktree_changed(self.repo) if p in tracked}
            for path, blob_file in staged_files(self.repo, changed).items():
                refs[path] = ImageRef(path, blob_file, changed[path])
        return refs

    def keeps(self, path: str) -> bool:
        return is_image_path(path) and selected(path, self.config.include, self.config.exclude)

    def fs_path(self, path: str) -> str:
        """Where a report's path lives on disk (reports show repo-relative paths)."""
        return os.path.join(self.repo.root, path) if self.repo is not None else path

    def space(self) -> str:
        return space_id(self.backend)

    def embed_for_audit(self, paths: list[str]) -> Embedded:
        return self.embed(list(audit_refs(self, paths).values()))

    def thumbs(self) -> Thumbs:
        """Thumbnails for an HTML page (the module is imported only when a page is wanted)."""
        from dupgate_hook import html_report

        return html_report.Thumbs(self.fs_path, self.config.max_image_pixels)


def open_session(
    backend: str | None = None, threshold: float | None = None, *, need_repo: str = ""
) -> Session:
    repo = find_repo()
    if repo is None and need_repo:
        raise DupgateError(
            f"dupgate {need_repo} must run inside a git repository (for folders: dupgate audit)"
        )
    root = repo.root if repo else os.getcwd()
    config = with_overrides(load_config(root), backend=backend, threshold=threshold)
    # A relative model_path starts where .dupgate.yaml is; facts about it are cached with the vectors.
    chosen = get_backend(replace(config.backend, base_dir=root, cache_dir=cache_root(repo)))
    stores = open_stores(repo, space_id(chosen), chosen.dimensions)
    return Session(repo, config, chosen, stores, load_allowlist(repo.root if repo else None, config.allow))


def report_errors(session: Session, embedded: Embedded) -> bool:
    """Print one line per unreadable image; True when they must stop the command."""
    block = session.config.on_error == "block"
    for error in embedded.errors:
        label = "error" if block else "warning"
        print(f"dupgate: {label}: {report.show(error.path)}: {error.reason}", file=sys.stderr)
    if embedded.errors and block:
        print(
            "dupgate: fix or exclude these files (exclude: in .dupgate.yaml), or set on_error: warn",
            file=sys.stderr,
        )
    return bool(embedded.errors) and block


def note_other_spaces(session: Session) -> bool:
    """Switching backend or model re-embeds into a folder of its own; say so once.

    True when the manifest has no vectors for this space but does for another: every
    committed image then lacks vectors because of the switch, not because it was skipped.
    """
    store = session.stores.manifest
    if store is None or store.pack_ids():
        return False
    parent = os.path.dirname(store.folder)
    others = sorted(n for n in os.listdir(parent) if n != store.space) if os.path.isdir(parent) else []
    if not others:
        return False
    same_backend = [n for n in others if n.startswith(f"{session.backend.name}-")]
    if same_backend:  # a new descriptor of the same backend: upgrading dupgate did this
        print(
            f"dupgate: the {session.backend.name} backend's model changed since {MANIFEST_DIR}/ was built "
            f"({', '.join(same_backend)} -> {store.space}): run `dupgate update` once, then "
            f"`git add {MANIFEST_DIR}` and commit (`dupgate prune --all-backends` drops the old vectors); "
            "until then each commit embeds the images it is compared with",
            file=sys.stderr,
        )
    else:
        print(
            f"dupgate: note: {MANIFEST_DIR}/ holds vectors for {', '.join(others)}, none for {store.space}; "
            "images will be embedded for this backend (`dupgate update` does it for all at once, "
            "`dupgate prune --all-backends` drops the old vectors)",
            file=sys.stderr,
        )
    return True


def refuse_changed_model(session: Session) -> None:
    """An onnx model file that changed must not make one commit re-embed every image."""
    store = session.stores.manifest
    if session.backend.name != "onnx" or store is None or store.pack_ids():
        return
    parent = os.path.dirname(store.folder)
    old = [
        name
        for name in (sorted(os.listdir(parent)) if os.path.isdir(parent) else [])
        if name.startswith("onnx-")
        and name != store.space
        and any(f.endswith(".json") for f in os.listdir(os.path.join(parent, name)))
    ]
    if old:
        from dupgate_hook.backends.onnx_backend import OnnxBackend

        assert isinstance(session.backend, OnnxBackend)
        shown = session.backend.file.shown
        raise DupgateError(
            f"model_path: {shown} (sha256 {session.backend.model_sha256[:12]}) or its preprocessing "
            f"settings changed since the manifest's vectors were made ({MANIFEST_DIR}/{VECTORS_DIR}/"
            f"{', '.join(old)}); rebuild with `dupgate update`, `git add .dupgate`, then "
            "`dupgate prune --all-backends` to drop the old vectors"
        )


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
        refuse_changed_model(session)
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
        outcome = session.outcome(list(dict.fromkeys(probes + added)), embedded, new=new)
        if outcome.blocking:
            colour = report.use_colour(sys.stdout)
            print(report.check_text(outcome, given=set(probes), colour=colour, root=repo.root))
            _write_blocked_page(session, outcome, html_path)
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
            why = (f"had no vectors for {session.space()} (the manifest holds another model's)" if switched
                   else "committed earlier without vectors (SKIP=dupgate, --no-verify or before dupgate)")
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


def write_html(session: Session, outcome: report.Outcome, path: str) -> str:
    from dupgate_hook import html_report

    return report.write_report_file(path, html_report.audit_page(outcome, session.thumbs()), "HTML report")


def audit_refs(session: Session, paths: list[str]) -> dict[str, ImageRef]:
    """The images an audit covers: the repository's tracked ones, or the files and folders given."""
    repo = session.repo
    refs: dict[str, ImageRef] = {}
    if repo is not None and all(_inside(repo, p) for p in paths):
        tracked = session.tracked_refs()
        if not paths:
            refs = tracked
        for name in walk_images(paths):
            path = to_repo_path(repo, name)
            if session.keeps(path) and not os.path.islink(name):
                refs[path] = tracked.get(path) or ImageRef(path, os.path.abspath(name))
    else:
        for name in walk_images(paths or ["."]):
            if selected(name, session.config.include, session.config.exclude):
                refs[name] = ImageRef(name, name)
    return refs


def _inside(repo: Repo, path: str) -> bool:
    rel = os.path.relpath(os.path.abspath(path), repo.root)
    return not (rel == ".." or rel.startswith(".." + os.sep))


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


def prune(all_backends: bool) -> int:
    session = open_session(need_repo="prune")
    repo = session.repo
    store = session.stores.manifest
    assert repo is not None and store is not None
    with repo_lock(repo):
        store.sweep_temp_files()
        live = {ref.key for ref in session.tracked_refs().values() if ref.key}
        table = VectorTable(store.dimensions)
        old_ids = store.pack_ids()
        store.load(table)
        keep = [k for k in table.all_keys() if k in live]
        dropped = len(table) - len(keep)
        if dropped or len(old_ids) > 1:
            new_id = store.write_pack(keep, table.get(keep)) if keep else None
            for pack_id in old_ids:
                if pack_id != new_id:
                    store.remove_pack(pack_id)
        removed_spaces = _remove_other_spaces(store.folder) if all_backends else []
    print(
        f"dupgate: {len(keep)} vectors kept, {dropped} dropped, {len(old_ids)} pack(s) compacted"
        + (f", removed {', '.join(removed_spaces)}" if removed_spaces else "")
        + "."
    )
    if dropped or len(old_ids) > 1 or removed_spaces:
        print("Stage the change:  " + report.git_command(repo.root, f"add -A {MANIFEST_DIR}"))
    return ExitCode.CLEAN


def _remove_other_spaces(current: str) -> list[str]:
    import shutil

    parent = os.path.dirname(current)
    removed = []
    for name in sorted(os.listdir(parent)):
        path = os.path.join(parent, name)
        if path != current and os.path.isdir(path):
            shutil.rmtree(path)
            removed.append(name)
    return removed
