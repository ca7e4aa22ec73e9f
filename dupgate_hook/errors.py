"""The one exception type the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations


class DupgateError(Exception):
    """A problem the user can fix (bad config, unreadable image, backend failure).

    The message must be one line and name the file or setting at fault.
    """


class ImageError(DupgateError):
    """One image could not be used; `path` names it so reports can list it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
