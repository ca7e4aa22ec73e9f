"""The model file behind the `onnx` backend: where it is, which it is, what it takes.

Why it looks the way it does:

* The vector space is named after a sha256 of the model file, so vectors of another model,
  or of another version of the same file, are never compared with this one's.
* Hashing a 100 MB model and loading it into onnxruntime cost tenths of a second each, too
  much for every commit. What they tell (hash, input layout, size and element type, whether
  height and width are free, dimensions) is cached under the repository's cache folder,
  keyed by the file's path, size and mtime: a hook call whose images are all in the
  manifest neither reads the model nor imports onnxruntime.
* onnxruntime is imported here only, and only when a model has to be read or run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from dupgate_hook.backends.base import BackendSettings
from dupgate_hook.errors import DupgateError
from dupgate_hook.util import LFS_POINTER_PREFIX, atomic_write, one_line

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

FACTS_FILE = "onnx-models.json"
_FACTS_VERSION = 2  # 2: `dtype` and `dynamic_size` replaced `half`
_MAX_MODELS = 16  # entries kept in the facts cache
# The input element types dupgate can feed, by onnxruntime's name, as numpy dtype names.
INPUT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8"}
INSTALL_HINT = (
    "pip install 'dupgate-hook[onnx]' (pre-commit: use the hook id dupgate-onnx, "
    "or add additional_dependencies: [onnxruntime])"
)


@dataclass(frozen=True)
class ModelFacts:
    """What dupgate needs to know about a model to feed it and name its vector space."""

    sha256: str
    input_name: str
    layout: str  # "nchw" or "nhwc"
    height: int  # the size images are fed at (resize short_side: the short side, both)
    width: int
    batch: int | None  # a batch size the model fixes, else None
    dtype: str  # of the input: "float32", "float16" or "uint8" (raw pixels, no mean/std)
    dynamic_size: bool  # the graph leaves both height and width free (resize short_side)
    output_name: str
    dimensions: int


@dataclass(frozen=True)
class ModelFile:
    shown: str  # as the user wrote it, for messages
    path: str  # absolute
    size: int
    mtime_ns: int


def locate(settings: BackendSettings) -> ModelFile:
    """Resolve `model_path` (relative: from the repo root) and check it is a readable file."""
    if not settings.model_path:
        raise DupgateError(
            "model_path: the onnx backend needs `model_path:` in .dupgate.yaml, the path of a "
            ".onnx file (relative paths start at the repository root)"
        )
    shown = settings.model_path
    path = os.path.expanduser(shown)
    if not os.path.isabs(path):
        path = os.path.join(settings.base_dir or os.getcwd(), path)
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DupgateError(f"model_path: {shown} not found (looked for {path})") from None
    except OSError as exc:
        raise DupgateError(f"model_path: {shown} cannot be read ({exc.strerror})") from None
    if not os.path.isfile(path):
        raise DupgateError(f"model_path: {shown} is not a file (looked for {path})")
    return ModelFile(shown, path, st.st_size, st.st_mtime_ns)


def file_sha256(model: ModelFile) -> str:
    """sha256 of the model's bytes; a Git LFS pointer is refused with the fix."""
    digest = hashlib.sha256()
    try:
        with open(model.path, "rb") as f:
            head = f.read(1 << 20)
            if head.startswith(LFS_POINTER_PREFIX):
                raise DupgateError(
                    f"model_path: {model.shown} is a Git LFS pointer, not the model; run `git lfs pull`"
                )
            while head:
                digest.update(head)
                head = f.read(1 << 20)
    except OSError as exc:
        raise DupgateError(f"model_path: {model.shown} cannot be read ({exc.strerror})") from None
    return digest.hexdigest()


def open_session(model: ModelFile) -> InferenceSession:
    """An onnxruntime session on all cores; every failure is one line naming model_path."""
    try:
        import onnxruntime as ort
    except ModuleNotFoundError:
        raise DupgateError(
            f"onnx backend: the onnxruntime package is not installed; {INSTALL_HINT}"
        ) from None
    except ImportError as exc:
        raise DupgateError(f"onnx backend: onnxruntime cannot be imported ({one_line(exc)})") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count() or 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only: warnings would clutter the hook's output
    try:
        session = ort.InferenceSession(model.path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # InvalidProtobuf, Fail, ... all mean "not a model we can run"
        reason = one_line(exc)
        raise DupgateError(f"model_path: {model.shown} is not a usable ONNX model ({reason})") from None
    try:
        st = os.stat(model.path)
    except OSError:
        st = None
    if st is None or (st.st_size, st.st_mtime_ns) != (model.size, model.mtime_ns):
        raise DupgateError(f"model_path: {model.shown} changed while dupgate was reading it; run it again")
    return session


def read_io(session: InferenceSession, model: ModelFile, output_name: str | None) -> dict[str, Any]:
    """The model's one image input (layout, fixed sizes, type) and the chosen output."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = ", ".join(repr(i.name) for i in inputs)
        raise DupgateError(
            f"model_path: {model.shown} takes {len(inputs)} inputs ({names}); "
            "dupgate feeds one batch of images"
        )
    inp = inputs[0]
    shape = list(inp.shape)
    wrong = (
        f"model_path: {model.shown}: input {inp.name!r} has shape {show_shape(shape)}; dupgate feeds "
        "a batch of RGB images, (N, 3, H, W) or (N, H, W, 3)"
    )
    if len(shape) != 4:
        raise DupgateError(wrong)
    if shape[1] == 3 or (not isinstance(shape[1], int) and not isinstance(shape[3], int)):
        layout, fixed_h, fixed_w = "nchw", shape[2], shape[3]
    elif shape[3] == 3:
        layout, fixed_h, fixed_w = "nhwc", shape[1], shape[2]
    else:
        raise DupgateError(wrong)
    if inp.type not in INPUT_TYPES:
        raise DupgateError(
            f"model_path: {model.shown}: input {inp.name!r} takes {inp.type}; "
            "dupgate feeds tensor(float), tensor(float16) or tensor(uint8)"
        )
    outputs = [o.name for o in session.get_outputs()]
    if output_name is not None and output_name not in outputs:
        raise DupgateError(
            f"output_name: {output_name!r} is not an output of {model.shown} "
            f"(its outputs: {', '.join(map(repr, outputs))})"
        )
    return {
        "input_name": inp.name,
        "layout": layout,
        "fixed_height": _fixed(fixed_h),
        "fixed_width": _fixed(fixed_w),
        "batch": _fixed(shape[0]),
        "dtype": INPUT_TYPES[inp.type],
        "dynamic_size": _fixed(fixed_h) is None and _fixed(fixed_w) is None,
        "output_name": output_name or outputs[0],
    }


def _plausible(f: ModelFacts) -> bool:
    """A cache entry someone edited by hand is ignored rather than trusted."""
    sizes = (f.height, f.width, f.dimensions)
    ints = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in sizes)
    return (
        ints
        and isinstance(f.sha256, str)
        and len(f.sha256) == 64
        and f.layout in ("nchw", "nhwc")
        and isinstance(f.input_name, str)
        and isinstance(f.output_name, str)
        and f.dtype in INPUT_TYPES.values()
        and isinstance(f.dynamic_size, bool)
        and (f.batch is None or (isinstance(f.batch, int) and f.batch > 0))
    )


def _fixed(dim: object) -> int | None:
    return dim if isinstance(dim, int) and not isinstance(dim, bool) and dim > 0 else None


def show_shape(shape: list[Any] | tuple[Any, ...]) -> str:
    return "(" + ", ".join(str(d) if d is not None else "?" for d in shape) + ")"


class FactsCache:
    """`onnx-models.json` in the cache folder; damage or a read-only folder only costs time."""

    def __init__(self, cache_dir: str | None) -> None:
        self.path = os.path.join(cache_dir, FACTS_FILE) if cache_dir else None

    def get(self, model: ModelFile, probe_key: str) -> ModelFacts | None:
        facts = self._entry(model).get("facts")
        found = facts.get(probe_key) if isinstance(facts, dict) else None
        try:
            facts = ModelFacts(**found) if isinstance(found, dict) else None
        except TypeError:
            return None
        return facts if facts is not None and _plausible(facts) else None

    def sha256(self, model: ModelFile) -> str | None:
        digest = self._entry(model).get("sha256")
        return digest if isinstance(digest, str) else None

    def _entry(self, model: ModelFile) -> dict[str, Any]:
        """The cached entry of this very file (same path, size and mtime), else {}."""
        entry = self._read().get(model.path)
        same = isinstance(entry, dict) and entry.get("size") == model.size
        if same and isinstance(entry, dict) and entry.get("mtime_ns") == model.mtime_ns:
            return entry
        return {}

    def put(self, model: ModelFile, probe_key: str, facts: ModelFacts) -> None:
        if self.path is None:
            return
        models = self._read()
        entry = models.pop(model.path, None)
        same = isinstance(entry, dict) and entry.get("sha256") == facts.sha256
        old_facts = entry.get("facts") if same and isinstance(entry, dict) else None
        kept = old_facts if isinstance(old_facts, dict) else {}
        kept[probe_key] = asdict(facts)
        models[model.path] = {
            "size": model.size,
            "mtime_ns": model.mtime_ns,
            "sha256": facts.sha256,
            "facts": kept,
        }
        while len(models) > _MAX_MODELS:  # oldest first: dicts keep insertion order
            models.pop(next(iter(models)))
        folder = os.path.dirname(self.path)
        text = json.dumps({"version": _FACTS_VERSION, "models": models})
        try:
            os.makedirs(folder, exist_ok=True)
            atomic_write(
                self.path, lambda f: f.write(text.encode()), FACTS_FILE, prefix=".onnx-models.", suffix=".tmp"
            )
        except (OSError, DupgateError):
            pass

    def _read(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != _FACTS_VERSION:
            return {}
        models = data.get("models")
        return models if isinstance(models, dict) else {}
