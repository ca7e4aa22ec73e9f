"""Which images exist, and under which content key: the first step of the flow.

Inside a git repository the index is the truth: `git ls-files -s` gives every tracked
(or staged) image with its blob id, which is the content key, so unchanged images are never
read from disk. Outside git, folders are walked and keys are computed from the bytes the
same way git would, so a key means the same thing everywhere.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import subprocess
from dataclasses import dataclass
from typing import NamedTuple

from dupgate_hook.errors import DupgateError
from dupgate_hook.images import IMAGE_SUFFIXES, is_image_path

_SYMLINK_MODE = "120000"
_GITLINK_MODE = "160000"


class ImageRef(NamedTuple):
    """One image file: `path` as shown to the user, `fs_path` to open, `key` if already known.

    A named tuple, not a dataclass: a repository of 100,000 images builds 100,000 of them
    on every hook call, and a tuple is several times cheaper to make.
    """

    path: str
    fs_path: str
    key: str | None = None


@dataclass(frozen=True)
class Repo:
    root: str
    git_dir: str  # the common git dir: caches and locks live here, shared by worktrees
    object_format: str  # "sha1" or "sha256": keys use the repository's own hash


def git(root: str, *args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)
    except FileNotFoundError:
        raise DupgateError("git: command not found; install git") from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DupgateError(f"git {args[0]}: {message[-1] if message else 'failed'}")
    return proc.stdout.decode("utf-8", "surrogateescape")


def find_repo(start: str = ".") -> Repo | None:
    """The git repository containing `start`, or None outside one."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "--git-common-dir", "--show-object-format"],
            cwd=start,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        return None
    if proc.returncode != 0:
        return None
    lines = proc.stdout.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) < 3:
        return None  # a bare repository has no work tree to check
    root = lines[0]
    git_dir = os.path.normpath(os.path.join(start, lines[1]))
    fmt = lines[2].strip() or "sha1"  # one git call for all three: every hook call pays it
    return Repo(root=root, git_dir=os.path.abspath(git_dir), object_format=fmt)


def content_key(data: bytes, object_format: str = "sha1") -> str:
    """The git blob id of `data`: the key vectors are stored under."""
    import hashlib  # only for files git has no id for yet

    h = hashlib.sha256() if object_format == "sha256" else hashlib.sha1()
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def worktree_changed(repo: Repo) -> set[str]:
    """Tracked paths whose work-tree file differs from the index (edited or deleted)."""
    # `ls-files -m` lists what `diff --name-only` does, ~30% faster.
    return set(git(repo.root, "ls-files", "-m", "-z").split("\0")) - {""}


def tracked_images(repo: Repo, staged: bool = False) -> dict[str, str]:
    """Every image in the index (path -> blob id), skipping symlinks and submodules.

    By default images with unstaged edits get no key here: their key is computed from the
    bytes on disk, since those are what an audit looks at. `staged` keeps the index's blob
    id for every image: what a commit would record (the gate judges that).
    """
    out = git(repo.root, "ls-files", "-s", "-z")
    modified = set() if staged else worktree_changed(repo)
    # "<mode> <blob> <stage>\t<path>": git prints the mode as 6 octal digits and the stage as
    # one, so the fields sit at fixed offsets (this loop runs once per tracked file, 100,000
    # times in a big repository: slicing beats splitting).
    width = 64 if repo.object_format == "sha256" else 40
    tab = 6 + 1 + width + 1 + 1
    suffixes = IMAGE_SUFFIXES
    images: dict[str, str] = {}
    for entry in out.split("\0"):
        path = entry[tab + 1 :]
        dot = path.rfind(".")
        if dot < 0 or path[dot:].lower() not in suffixes:
            continue  # the cheap test first: most entries fail or pass it here
        if entry[tab] != "\t" or entry[6] != " ":
            raise DupgateError(f"git ls-files: unexpected entry {entry[:80]!r}")
        if not path[path.rfind("/") + 1 : dot].lstrip(".") or path.startswith(".dupgate/"):
            continue  # a name of only dots has no suffix (as `os.path.splitext` says)
        mode = entry[:6]
        if entry[tab - 1] != "0" or mode in (_SYMLINK_MODE, _GITLINK_MODE):
            continue
        images[path] = "" if path in modified else entry[7 : 7 + width]
    return images


class StagedChanges(NamedTuple):
    """What the index holds that HEAD does not: `added` content, and `moved` (renamed) paths."""

    added: set[str]
    moved: set[str]


def staged_changes(repo: Repo) -> StagedChanges | None:
    """The commit's additions by path; None before the first commit (everything is new).

    A path whose staged blob HEAD held at a path this commit removes or rewrites is a move,
    not an addition: a rename adds no image. A copy of a blob that stays where it was is an
    addition (the comparison then finds the exact duplicate).
    """
    proc = subprocess.run(
        ["git", "diff-index", "--cached", "-z", "--no-renames", "HEAD", "--"],
        cwd=repo.root,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        if subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=repo.root, capture_output=True, check=False
        ).returncode:
            return None
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DupgateError(f"git diff-index: {message[-1] if message else 'failed'}")
    fields = proc.stdout.decode("utf-8", "surrogateescape").split("\0")
    gone: dict[str, int] = {}
    new: list[tuple[str, str]] = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        # ":<old mode> <new mode> <old blob> <new blob> <status>"
        _, _, old, blob, status = meta.split(" ")
        if status[0] in "DMT":
            gone[old] = gone.get(old, 0) + 1
        if status[0] in "AMT":
            new.append((path, blob))
    changes = StagedChanges(set(), set())
    for path, blob in sorted(new):
        if gone.get(blob, 0) > 0:
            gone[blob] -= 1
            changes.moved.add(path)
        else:
            changes.added.add(path)
    return changes


def staged_files(repo: Repo, keys: dict[str, str]) -> dict[str, str]:
    """Write the staged blobs of `keys` (path -> blob id) where they can be decoded; path -> file.

    For images whose work-tree file differs from the index: the gate judges the staged content,
    as pre-commit's stash of unstaged changes makes it do. The folder holds only this call's files.
    """
    folder = os.path.join(repo.git_dir, "dupgate", "staged")
    with contextlib.suppress(OSError):  # absent, or a read-only repository
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
    if not keys:
        return {}
    blobs = sorted(set(keys.values()))
    proc = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=repo.root,
        input="".join(b + "\n" for b in blobs).encode(),
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise DupgateError(f"git cat-file: cannot read the staged images ({proc.stderr.decode().strip()})")
    out, pos, files = proc.stdout, 0, {}
    try:
        os.makedirs(folder, exist_ok=True)
        for blob in blobs:
            header_end = out.index(b"\n", pos)
            header = out[pos:header_end].split()
            if len(header) != 3:
                raise DupgateError(f"git cat-file: the staged blob {blob} is missing")
            size = int(header[2])
            files[blob] = os.path.join(folder, blob)
            with open(files[blob], "wb") as f:
                f.write(out[header_end + 1 : header_end + 1 + size])
            pos = header_end + 1 + size + 1
    except OSError as exc:
        raise DupgateError(f"{folder}: cannot write the staged images ({exc.strerror or exc})") from None
    return {path: files[blob] for path, blob in keys.items()}


def to_repo_path(repo: Repo, path: str) -> str:
    """A path given on the command line, as a repo-relative posix path."""
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute, repo.root)
    if rel == ".." or rel.startswith(".." + os.sep):
        raise DupgateError(f"{path}: is outside the repository {repo.root}")
    return rel.replace(os.sep, "/")


def walk_images(paths: list[str]) -> list[str]:
    """Image files named directly or found under the given folders (hidden folders skipped)."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                found.extend(os.path.join(dirpath, name) for name in sorted(filenames) if is_image_path(name))
        elif os.path.lexists(path):
            found.append(path)
        else:
            raise DupgateError(f"{path}: no such file or directory")
    return found


def selected(path: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Whether the config's include/exclude globs keep `path` (`*` also crosses `/`)."""
    if include and not any(fnmatch.fnmatchcase(path, g) for g in include):
        return False
    return not any(fnmatch.fnmatchcase(path, g) for g in exclude)
