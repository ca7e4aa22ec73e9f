"""`.dupgate.yaml`: optional settings, validated strictly so a typo never passes silently."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from dupgate_hook.backends import BACKEND_NAMES
from dupgate_hook.backends.base import BackendSettings
from dupgate_hook.errors import DupgateError
from dupgate_hook.images import DEFAULT_MAX_PIXELS

CONFIG_NAME = ".dupgate.yaml"
ON_ERROR_CHOICES = ("block", "warn")
RESIZE_CHOICES = ("crop", "stretch", "short_side")  # onnx; short_side: input_size is the short side


@dataclass(frozen=True)
class AllowRule:
    """A pair of path globs whose matches may resemble each other (e.g. thumbnails)."""

    a: str
    b: str
    reason: str


@dataclass(frozen=True)
class Config:
    backend: BackendSettings = field(default_factory=BackendSettings)
    threshold: float | None = None  # None: the backend's default
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    allow: tuple[AllowRule, ...] = ()
    on_error: str = "block"
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    html_report: str | bool = False  # when the hook blocks: write the HTML page (True: under .git/)
    verify: bool = True  # a pair blocks only once its pixels prove it (docs/verification.md)
    candidates: int = 8  # retrieved pairs verified per image (its best-scoring partners)


def load_config(root: str | None) -> Config:
    """Read `.dupgate.yaml` in `root` (absent file: defaults)."""
    if root is None:
        return Config()
    path = os.path.join(root, CONFIG_NAME)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise DupgateError(f"{CONFIG_NAME}: cannot read it ({exc})") from None
    return parse_config(text)


def parse_config(text: str) -> Config:
    import yaml  # only when a config file exists: the import costs ~15 ms of every hook call

    try:
        data = yaml.safe_load(text)  # safe: YAML tags never construct objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise DupgateError(f"{CONFIG_NAME}: {problem}{where}") from None
    except RecursionError:
        raise DupgateError(f"{CONFIG_NAME}: nested too deeply to be a dupgate config") from None
    if data is None:
        return Config()
    if not isinstance(data, dict):
        raise DupgateError(f"{CONFIG_NAME}: must be a mapping of settings, not {_kind(data)}")
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise DupgateError(
            f"{CONFIG_NAME}: unknown key {unknown[0]!r} (known keys: {', '.join(sorted(_FIELDS))})"
        )
    values = {key: _FIELDS[key](key, value) for key, value in data.items()}
    if values.get("resize") == "short_side" and isinstance(data.get("input_size"), list):
        raise DupgateError(
            f"{CONFIG_NAME}: input_size must be one side in pixels (the short side) with "
            f"resize: short_side, not {data['input_size']!r}"
        )
    # Keys the file leaves out keep the dataclasses' defaults (stated there, once).
    backend_fields = {f.name for f in fields(BackendSettings)}
    settings: dict[str, Any] = {}
    top: dict[str, Any] = {}
    for key, value in values.items():
        name = "name" if key == "backend" else key
        (settings if name in backend_fields else top)[name] = value
    return Config(backend=BackendSettings(**settings), **top)


def with_overrides(config: Config, *, backend: str | None = None, threshold: float | None = None) -> Config:
    """CLI flags win over the file; they are validated like the file's values."""
    if backend is not None:
        config = replace(config, backend=replace(config.backend, name=_backend("--backend", backend)))
    if threshold is not None:
        config = replace(config, threshold=_threshold("--threshold", threshold))
    return config


def _kind(value: object) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def _string(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DupgateError(f"{CONFIG_NAME}: {key} must be a non-empty string, not {_kind(value)}")
    return value


def _number(key: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DupgateError(f"{CONFIG_NAME}: {key} must be a number, not {value!r}")
    if not low <= value <= high:
        raise DupgateError(f"{CONFIG_NAME}: {key} must be between {low:g} and {high:g}, not {value!r}")
    return float(value)


def _integer(key: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DupgateError(f"{CONFIG_NAME}: {key} must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise DupgateError(f"{CONFIG_NAME}: {key} must be between {low} and {high}, not {value!r}")
    return value


def _backend(key: str, value: object) -> str:
    name = _string(key, value)
    if name not in BACKEND_NAMES:
        raise DupgateError(f"{CONFIG_NAME}: {key} must be one of {', '.join(BACKEND_NAMES)}, not {name!r}")
    return name


def _threshold(key: str, value: object) -> float:
    return _number(key, value, 0.0, 1.0)


def _globs(key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DupgateError(f"{CONFIG_NAME}: {key} must be a list of glob strings")
    return tuple(value)


def _allow(key: str, value: object) -> tuple[AllowRule, ...]:
    if not isinstance(value, list):
        raise DupgateError(f"{CONFIG_NAME}: {key} must be a list of {{a, b, reason}} entries")
    rules = []
    for i, entry in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"a", "b", "reason"}:
            raise DupgateError(f"{CONFIG_NAME}: {where} must be a mapping with keys a, b, reason")
        missing = {"a", "b", "reason"} - set(entry)
        if missing:
            raise DupgateError(f"{CONFIG_NAME}: {where} lacks {sorted(missing)[0]!r}")
        rules.append(
            AllowRule(
                a=_string(f"{where}.a", entry["a"]),
                b=_string(f"{where}.b", entry["b"]),
                reason=_string(f"{where}.reason", entry["reason"]),
            )
        )
    return tuple(rules)


def _choice(key: str, value: object, choices: tuple[str, ...] = ON_ERROR_CHOICES) -> str:
    if not isinstance(value, str) or value not in choices:
        raise DupgateError(f"{CONFIG_NAME}: {key} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _input_size(key: str, value: object) -> tuple[int, int]:
    """One side for a square input, or [height, width]."""
    if isinstance(value, list) and len(value) == 2:
        return (_integer(key, value[0], 8, 4096), _integer(key, value[1], 8, 4096))
    if isinstance(value, list):
        raise DupgateError(f"{CONFIG_NAME}: {key} must be a side in pixels or [height, width]")
    side = _integer(key, value, 8, 4096)
    return (side, side)


def _triple(key: str, value: object, low: float) -> tuple[float, float, float]:
    """Three per-channel numbers in 0..255 pixel units; std (low > 0) must be positive."""
    if not isinstance(value, list) or len(value) != 3:
        raise DupgateError(f"{CONFIG_NAME}: {key} must be a list of 3 numbers (per channel), not {value!r}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < low:
            what = "positive numbers" if low > 0 else "numbers"
            raise DupgateError(f"{CONFIG_NAME}: {key} must be 3 {what} in 0..255 pixel units, not {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _boolean(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise DupgateError(f"{CONFIG_NAME}: {key} must be true or false, not {value!r}")
    return value


def _html_report(key: str, value: object) -> str | bool:
    if isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value.strip():
        raise DupgateError(f"{CONFIG_NAME}: {key} must be true, false or a file path, not {_kind(value)}")
    return value


_FIELDS: dict[str, Any] = {
    "backend": _backend,
    "model": _string,
    "dimensions": lambda k, v: _integer(k, v, 1, 65536),
    "threshold": _threshold,
    "include": _globs,
    "exclude": _globs,
    "allow": _allow,
    "on_error": _choice,
    "max_image_pixels": lambda k, v: _integer(k, v, 1, 2_000_000_000),
    "base_url": _string,
    "timeout_seconds": lambda k, v: _number(k, v, 0.1, 3600.0),
    "max_retries": lambda k, v: _integer(k, v, 0, 20),
    "html_report": _html_report,
    "verify": _boolean,
    "candidates": lambda k, v: _integer(k, v, 1, 1000),
    "model_path": _string,
    "input_size": _input_size,
    "mean": lambda k, v: _triple(k, v, -math.inf),
    "std": lambda k, v: _triple(k, v, 1e-9),
    "channel_order": lambda k, v: _choice(k, v, ("rgb", "bgr")),
    "resize": lambda k, v: _choice(k, v, RESIZE_CHOICES),
    "output_name": _string,
}
