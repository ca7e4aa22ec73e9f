"""`dupgate allow`: accept a pair by content, and say how the pair scores against the threshold."""

from __future__ import annotations

import os
import sys

from dupgate_hook import report
from dupgate_hook.allowlist import AllowList, write_allow_file
from dupgate_hook.compare import find_pairs
from dupgate_hook.errors import DupgateError
from dupgate_hook.images import is_image_path, read_bytes
from dupgate_hook.paths import ImageRef, content_key, to_repo_path, tracked_images
from dupgate_hook.session import Session, open_session
from dupgate_hook.store import repo_lock
from dupgate_hook.util import ExitCode


def allow(a: str, b: str, reason: str) -> int:
    if not reason.strip():
        raise DupgateError("--reason: say why this pair is acceptable")
    session = open_session(need_repo="allow")
    repo = session.repo
    assert repo is not None
    tracked = tracked_images(repo)
    pair = []
    for name in (a, b):
        if not os.path.lexists(name) and os.path.lexists(os.path.join(repo.root, name)):
            name = os.path.join(repo.root, name)  # a repo-relative path, as the hook prints it
        path = to_repo_path(repo, name)
        if not is_image_path(path):
            raise DupgateError(f"{name}: not an image file")
        key = tracked.get(path) or content_key(read_bytes(os.path.join(repo.root, path)), repo.object_format)
        pair.append((path, key))
    (pa, ka), (pb, kb) = pair
    if ka == kb and pa == pb:
        raise DupgateError(f"{a}: a pair needs two different images")
    entry = {"a": ka, "b": kb, "a_path": pa, "b_path": pb, "reason": reason.strip()}
    written = write_allow_file(repo.root, [entry], baseline=False, stem="allow")
    score = _pair_score(session, pa, ka, pb, kb)
    stage = report.git_command(repo.root, "add " + written)
    print(f"dupgate: accepted {pa} <-> {pb}{score}. Stage it:  {stage}")
    return ExitCode.CLEAN


def _pair_score(session: Session, pa: str, ka: str, pb: str, kb: str) -> str:
    """The pair's score and the threshold, so accepting a pair that is never reported is noticed."""
    assert session.repo is not None
    try:
        with repo_lock(session.repo):
            embedded = session.embed([ImageRef(p, session.fs_path(p), k) for p, k in ((pa, ka), (pb, kb))])
    except DupgateError as exc:
        return f" (its score is unknown: {exc})"
    if len(embedded.keys) < 2:
        return " (its score is unknown: an image could not be read)"
    pairs = find_pairs([pa], embedded.keys, embedded.table, session.backend.similarity, -1.0, AllowList())
    score = pairs[0].score if pairs else 1.0
    shown = f" (score {score:.3f}, threshold {session.threshold:.2f})"
    if score < session.threshold:
        print(
            f"dupgate: note: {pa} <-> {pb} scores {score:.3f}, below the threshold "
            f"{session.threshold:.2f}: it is not reported anyway (accepted all the same)",
            file=sys.stderr,
        )
    return shown
