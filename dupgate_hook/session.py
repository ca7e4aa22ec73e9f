"""A command's session: the repo, config, backend, stores and allow list, resolved once.

Every command in `commands/` opens one and walks the flow through it: paths -> images ->
embed -> manifest -> compare -> report.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from dupgate_hook import report
from dupgate_hook.allowlist import AllowList, load_allowlist
from dupgate_hook.backends import get_backend
from dupgate_hook.backends.base import Backend, space_id
from dupgate_hook.compare import Pair, find_pairs, merged
from dupgate_hook.config import Config, load_config, with_overrides
from dupgate_hook.embed import Embedded, embed_all
from dupgate_hook.errors import DupgateError
from dupgate_hook.images import is_image_path
from dupgate_hook.manifest import MANIFEST_DIR, VECTORS_DIR
from dupgate_hook.paths import (
    ImageRef,
    Repo,
    find_repo,
    selected,
    staged_files,
    to_repo_path,
    tracked_images,
    walk_images,
    worktree_changed,
)
from dupgate_hook.store import Stores, cache_root, open_stores

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
        if self.config.threshold is not None:
            return self.config.threshold
        return self.backend.candidate_threshold if self.config.verify else self.backend.default_threshold

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
        where: dict[str, str] | None = None,
    ) -> report.Outcome:
        """The report of `probes` against every image; `pairs` when they were found another way.

        Retrieved pairs are candidates: with `verify` on, only those the pixels prove are
        reported as near-duplicates. `where` maps paths to the files holding their pixels
        (default: the work tree)."""
        if pairs is None:
            pairs = find_pairs(
                probes, embedded.keys, embedded.table, self.backend.similarity, self.threshold, self.allow
            )
        unverified: list[Pair] = []
        rejected = skipped = 0
        if self.config.verify and self.threshold > 0:  # 0 lists every pair (benchmarks)
            from dupgate_hook.inverted import negative_pairs
            from dupgate_hook.verify.pixels import Pictures
            from dupgate_hook.verify.stage import verify_pairs

            files = {p: (where or {}).get(p) or self.fs_path(p) for p in embedded.keys}
            pairs = merged(pairs, negative_pairs(self, probes, embedded, files))
            pictures = Pictures(cache_root(self.repo), self.config.max_image_pixels)
            verified = verify_pairs(pairs, embedded.keys, files, pictures, self.config.candidates)
            pairs, unverified = verified.proved, verified.unverified
            rejected, skipped = len(verified.rejected), verified.skipped
        return report.Outcome(
            self.backend.name,
            self.backend.model,
            self.backend.dimensions,
            self.threshold,
            embedded.keys,
            pairs,
            embedded.errors,
            new,
            unverified,
            rejected,
            skipped,
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


def refuse_outdated_model(session: Session) -> None:
    """Stop when the backend will not silently replace an older model's vectors (see `Backend`)."""
    store = session.stores.manifest
    if store is None or store.pack_ids():
        return
    parent = os.path.dirname(store.folder)
    older = [
        name
        for name in (sorted(os.listdir(parent)) if os.path.isdir(parent) else [])
        if name.startswith(f"{session.backend.name}-")
        and name != store.space
        and os.path.isdir(os.path.join(parent, name))
        and any(f.endswith(".json") for f in os.listdir(os.path.join(parent, name)))
    ]
    if older:
        reason = session.backend.outdated_vectors_error(f"{MANIFEST_DIR}/{VECTORS_DIR}/{', '.join(older)}")
        if reason:
            raise DupgateError(reason)


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
