"""Embedding backends behind one small interface (see `base.Backend`).

Backends are imported lazily by name so the hook never pays for one it does not use.
"""

from __future__ import annotations

from dupgate_hook.backends.base import Backend, BackendSettings
from dupgate_hook.errors import DupgateError

BACKEND_NAMES = ("local", "gemini", "onnx")


def get_backend(settings: BackendSettings) -> Backend:
    """Build the backend named in `settings` (cheap: heavy clients connect on first embed)."""
    if settings.name == "local":
        from dupgate_hook.backends.local import LocalBackend

        return LocalBackend(settings)
    if settings.name == "gemini":
        from dupgate_hook.backends.gemini import GeminiBackend

        return GeminiBackend(settings)
    if settings.name == "onnx":
        from dupgate_hook.backends.onnx_backend import OnnxBackend

        return OnnxBackend(settings)
    raise DupgateError(
        f"backend: unknown backend {settings.name!r} (choose one of {', '.join(BACKEND_NAMES)})"
    )
