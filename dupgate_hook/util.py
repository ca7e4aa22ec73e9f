"""Small helpers several modules share, kept once (as pre_commit_hooks/util.py does)."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from enum import IntEnum
from typing import BinaryIO

from dupgate_hook.errors import DupgateError

# The first bytes of a Git LFS pointer file: what is committed in place of an LFS object.
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"


def one_line(exc: object, limit: int = 200, marker: str = "...") -> str:
    """`exc` (an exception or a text) as one line of at most `limit` characters.

    dupgate's errors are one line each; an exception with no message is named by its type.
    A cut text ends with `marker`.
    """
    text = " ".join(str(exc).split())
    if not text and isinstance(exc, BaseException):
        text = type(exc).__name__
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


def atomic_write(
    path: str, write: Callable[[BinaryIO], object], label: str, prefix: str = ".tmp-", suffix: str = ""
) -> None:
    """Write `path` whole or not at all: a temp file beside it, fsync, then rename."""
    import tempfile

    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    try:
        # mkstemp makes 0600; the file gets the mode any new file would (0644 with umask 022).
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: no fchmod on Windows
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise DupgateError(
            f"{label}: cannot write {os.path.basename(path)} ({exc.strerror or exc})"
        ) from None


@functools.cache
def _umask() -> int:
    """The process umask (it can only be read by setting it; once, before any thread writes)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class ExitCode(IntEnum):
    """What the hook's exit status tells pre-commit and the user (the README lists them)."""

    CLEAN = 0  # nothing to block
    FOUND = 1  # near-duplicates found
    ERROR = 2  # a problem to fix first (config, unreadable image, backend)
    UPDATED = 3  # vectors written to .dupgate/: stage them and commit again
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports it
