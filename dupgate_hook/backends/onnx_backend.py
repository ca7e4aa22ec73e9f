"""The `onnx` backend: CNN features (ResNet50, VGG16 fc1, MobileNet, ...) from a model the user brings.

Why it looks the way it does:

* Offline and optional: the model is a local `.onnx` file, nothing is downloaded, and
  onnxruntime comes with the `onnx` extra only; it is imported lazily (see onnx_model.py).
* Images are fed the way ImageNet models were trained: resized so the short side is
  size/0.875 and centre-cropped (or stretched), in RGB or BGR order, normalised by
  mean/std in 0..255 pixel units, in the layout the model's input declares (NCHW or NHWC).
* Copy-detection models such as SSCD take any height and width and want the whole picture,
  aspect kept: `resize: short_side` scales the short side to `input_size` (the long side is
  capped at 4x that, so a panorama stays affordable) and runs images grouped by size.
* A uint8 input gets the raw 0..255 pixels (such exports normalise in the graph), so a
  mean/std in the config is an error rather than silently ignored.
* A vector output is used as it is; a spatial output (N, C, H, W) is averaged over H and W
  (global average pooling), which is how ResNet50 gives its 2048-d vector. Rows are
  L2-normalised, so the score is the cosine.
* The vector space is named by a hash of the model file plus the preprocessing settings, so
  a changed model or setting never meets the old vectors.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import TYPE_CHECKING

import numpy as np

from dupgate_hook.backends import onnx_model
from dupgate_hook.backends.base import BackendSettings, CosineScores, l2_normalise
from dupgate_hook.backends.onnx_model import FactsCache, ModelFacts, ModelFile, show_shape
from dupgate_hook.errors import DupgateError
from dupgate_hook.util import one_line

if TYPE_CHECKING:
    from collections.abc import Sequence

    from onnxruntime import InferenceSession
    from PIL import Image

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # RGB, 0..255 pixel units (torchvision's)
IMAGENET_STD = (58.395, 57.12, 57.375)
DEFAULT_SIDE = 224
CROP_FRACTION = 0.875  # torchvision's Resize(256) + CenterCrop(224)
LONG_SIDE_CAP = 4  # resize short_side: the long side is at most this many short sides


class OnnxBackend(CosineScores):
    """Embeds images with a local ONNX model; see the module docstring for the why."""

    name = "onnx"
    batch_size = 16
    transparency = "white"  # images.WHITE: what a model trained on flattened pictures expects
    # CNN features after ReLU/swish are mostly positive, so unrelated images score well
    # above 0 (0.3-0.7). With EfficientNet-Lite0 on the public benchmark, 0.85 gave gate
    # precision 0.976 (best pair F1 sat at 0.80): a gate should rather miss than cry wolf.
    default_threshold = 0.85
    candidate_threshold = 0.85  # not measured lower: the default until a benchmark says otherwise

    def __init__(self, settings: BackendSettings) -> None:
        if settings.dimensions is not None:
            raise DupgateError(
                "dimensions: the onnx backend takes its dimensions from the model's output; remove it"
            )
        if settings.model is not None:
            raise DupgateError("model: the onnx backend names its model by `model_path`; remove `model`")
        self.settings = settings
        order = settings.channel_order
        default_mean = IMAGENET_MEAN if order == "rgb" else IMAGENET_MEAN[::-1]
        default_std = IMAGENET_STD if order == "rgb" else IMAGENET_STD[::-1]
        self.mean = np.asarray(settings.mean or default_mean, dtype=np.float32)
        self.std = np.asarray(settings.std or default_std, dtype=np.float32)
        self.file: ModelFile = onnx_model.locate(settings)
        self._session: InferenceSession | None = None
        self.facts = self._facts()
        self._check_fit(self.facts)  # cached facts too: the settings may have changed since
        self.dimensions = self.facts.dimensions
        side = max(self.facts.height, self.facts.width)
        if settings.resize == "short_side":
            # decoded no larger than the biggest picture short_side_size can ask for
            self.input_side = LONG_SIDE_CAP * side
        else:
            # images.load shrinks the longest side to this: enough for the short side of a
            # 4:3 picture to reach size/0.875 before the crop, without decoding more than needed.
            self.input_side = max(64, math.ceil(1.5 * side / CROP_FRACTION))
        self.model = f"{self.facts.sha256[:12]}-{self._preprocessing_id()}"

    @property
    def model_sha256(self) -> str:
        return self.facts.sha256

    def outdated_vectors_error(self, where: str) -> str | None:
        """A changed model file must not make one commit re-embed every image with it."""
        return (
            f"model_path: {self.file.shown} (sha256 {self.model_sha256[:12]}) or its preprocessing "
            f"settings changed since the manifest's vectors were made ({where}); rebuild with "
            "`dupgate update`, `git add .dupgate`, then `dupgate prune --all-backends` to drop the "
            "old vectors"
        )

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One forward pass per batch of same-size inputs; rows come back L2-normalised float32.

        Fixed-size settings give one group (as before); resize short_side gives one group per
        picture size, since a tensor holds images of one size only.
        """
        vectors = np.zeros((len(images), self.dimensions), dtype=np.float32)
        prepared = [self.prepare(img) for img in images]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, pixels in enumerate(prepared):
            groups.setdefault(pixels.shape, []).append(i)
        for rows in groups.values():
            out = self._forward(np.stack([prepared[i] for i in rows]), self.facts)
            if out.shape[1] != self.dimensions:
                raise DupgateError(
                    f"model_path: {self.file.shown} gave {out.shape[1]} values per image, "
                    f"expected {self.dimensions}; if the file changed without a new mtime, delete "
                    f"{FactsCache(self.settings.cache_dir).path or 'the cache'} and run it again"
                )
            vectors[rows] = out
        return l2_normalise(vectors)

    def prepare(self, img: Image.Image) -> np.ndarray:
        """One image as the model takes it: resized, cropped, ordered, normalised, laid out."""
        facts = self.facts
        if img.mode != "RGB":
            img = img.convert("RGB")
        img = self._resized(img)
        pixels: np.ndarray = np.asarray(img)  # uint8: what a uint8 input is fed as it is
        if self.settings.channel_order == "bgr":
            pixels = pixels[..., ::-1]
        if facts.dtype != "uint8":  # a uint8 model gets raw pixels and normalises them itself
            pixels = (pixels.astype(np.float32) - self.mean) / self.std
        if facts.layout == "nchw":
            pixels = pixels.transpose(2, 0, 1)
        return np.ascontiguousarray(pixels, dtype=np.dtype(facts.dtype))

    def _resized(self, img: Image.Image) -> Image.Image:
        """Cropped to the fed size, stretched to it, or (short_side) scaled with its aspect kept."""
        from PIL import Image as PILImage

        h, w = self.facts.height, self.facts.width
        bilinear = PILImage.Resampling.BILINEAR
        if self.settings.resize == "crop":
            scale = max(h / img.height, w / img.width) / CROP_FRACTION
            rw, rh = max(w, round(img.width * scale)), max(h, round(img.height * scale))
            img = img.resize((rw, rh), bilinear)
            left, top = (rw - w) // 2, (rh - h) // 2
            return img.crop((left, top, left + w, top + h))
        if self.settings.resize == "short_side":
            size = short_side_size(img.width, img.height, h)
            return img if size == img.size else img.resize(size, bilinear)
        return img.resize((w, h), bilinear)

    def _facts(self) -> ModelFacts:
        """From the cache when the file is unchanged, else by reading and probing the model."""
        cache = FactsCache(self.settings.cache_dir)
        size = self.settings.input_size
        probe_key = json.dumps([list(size) if size else None, self.settings.output_name])
        found = cache.get(self.file, probe_key)
        if found is not None:
            return found
        digest = cache.sha256(self.file) or onnx_model.file_sha256(self.file)
        session = self._get_session()
        io = onnx_model.read_io(session, self.file, self.settings.output_name)
        height, width = self._input_size(io)
        facts = ModelFacts(
            sha256=digest,
            input_name=io["input_name"],
            layout=io["layout"],
            height=height,
            width=width,
            batch=io["batch"],
            dtype=io["dtype"],
            dynamic_size=io["dynamic_size"],
            output_name=io["output_name"],
            dimensions=0,
        )
        self._check_fit(facts)  # before running the model on settings it cannot take
        self.facts = facts  # prepare() reads it
        grey = np.full((height, width, 3), 128, dtype=np.uint8)
        from PIL import Image as PILImage

        probe = self._forward(np.stack([self.prepare(PILImage.fromarray(grey))]), facts)
        facts = ModelFacts(**{**facts.__dict__, "dimensions": int(probe.shape[1])})
        cache.put(self.file, probe_key, facts)
        return facts

    def _input_size(self, io: dict[str, object]) -> tuple[int, int]:
        """`input_size` if set, else what the model fixes, else 224; a conflict is an error."""
        fixed = (io["fixed_height"], io["fixed_width"])
        wanted = self.settings.input_size
        if wanted is not None:
            for got, want in zip(fixed, wanted, strict=True):
                if isinstance(got, int) and got != want:
                    raise DupgateError(
                        f"input_size: {wanted[0]}x{wanted[1]} does not fit {self.file.shown}, whose "
                        f"input {io['input_name']!r} is {show_shape(list(fixed))} (height, width); "
                        "remove input_size or make it match"
                    )
            return wanted
        h, w = (d if isinstance(d, int) else DEFAULT_SIDE for d in fixed)
        return h, w

    def _check_fit(self, facts: ModelFacts) -> None:
        """Settings the model cannot honour are one-line errors, not quietly other vectors."""
        s, shown, name = self.settings, self.file.shown, facts.input_name
        if s.resize == "short_side" and not facts.dynamic_size:
            raise DupgateError(
                f"resize: short_side feeds pictures of any size, but {shown}'s input {name!r} fixes "
                f"its height or width (fed at {facts.height}x{facts.width}); use resize: crop or "
                "stretch, or export the model with dynamic height and width axes"
            )
        if s.resize == "short_side" and s.input_size is not None and s.input_size[0] != s.input_size[1]:
            raise DupgateError(
                f"input_size: with resize: short_side it is one side in pixels (the short side), "
                f"not {s.input_size[0]}x{s.input_size[1]}"
            )
        if facts.dtype == "uint8" and (s.mean is not None or s.std is not None):
            key = "mean" if s.mean is not None else "std"
            raise DupgateError(
                f"{key}: {shown}'s input {name!r} takes tensor(uint8), raw 0..255 pixels that the "
                f"model normalises itself, so dupgate applies no mean/std; remove {key}"
            )

    def _preprocessing_id(self) -> str:
        """Short hash of every setting that changes the vectors besides the model file."""
        s = self.settings
        parts: list[object] = [
            self.facts.height,
            self.facts.width,
            [round(float(v), 6) for v in self.mean],
            [round(float(v), 6) for v in self.std],
            s.channel_order,
            s.resize,
            self.facts.output_name,
        ]
        if s.resize == "short_side" or self.facts.dtype == "uint8":
            # added only here, so the spaces of setups that worked before keep their names
            parts.append([self.facts.dtype, self.facts.dynamic_size, LONG_SIDE_CAP])
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:6]

    def _get_session(self) -> InferenceSession:
        if self._session is None:
            self._session = onnx_model.open_session(self.file)
        return self._session

    def _forward(self, batch: np.ndarray, facts: ModelFacts) -> np.ndarray:
        """Run the model (in chunks of its fixed batch size, if it has one); one row per image."""
        session = self._get_session()
        n = len(batch)
        step = facts.batch or n
        fed_h, fed_w = batch.shape[1:3] if facts.layout == "nhwc" else batch.shape[2:4]
        outs = []
        for start in range(0, n, step):
            chunk = batch[start : start + step]
            if len(chunk) < step:  # a fixed batch size: pad, then drop the padding
                pad = np.zeros((step - len(chunk), *chunk.shape[1:]), dtype=chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            try:
                out = session.run([facts.output_name], {facts.input_name: chunk})[0]
            except Exception as exc:  # onnxruntime's errors share no useful base class
                raise DupgateError(
                    f"model_path: {self.file.shown}: running the model on {fed_h}x{fed_w} "
                    f"images failed ({one_line(exc)}); check input_size and resize"
                ) from None
            outs.append(self._vectors(np.asarray(out), step, facts)[: len(batch[start : start + step])])
        vectors = np.concatenate(outs).astype(np.float32, copy=False)
        if not np.isfinite(vectors).all():
            raise DupgateError(f"model_path: {self.file.shown} gave non-finite values (NaN or infinity)")
        return vectors

    def _vectors(self, out: np.ndarray, n: int, facts: ModelFacts) -> np.ndarray:
        """(N, D) as it is; (N, C, H, W) or, for an NHWC model, (N, H, W, C) averaged over H, W."""
        if out.ndim == 4 and out.shape[0] == n:
            axes = (1, 2) if facts.layout == "nhwc" else (2, 3)
            pooled: np.ndarray = out.astype(np.float32).mean(axis=axes)
            return pooled
        if out.ndim == 2 and out.shape[0] == n and out.shape[1] >= 2:
            return out
        raise DupgateError(
            f"output_name: output {facts.output_name!r} of {self.file.shown} has shape "
            f"{show_shape(out.shape)} for {n} image(s), not a vector per image (N, D) nor a "
            "feature map (N, C, H, W) to pool; pick another output with output_name"
        )


def short_side_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(width, height) with the short side at `side` and the aspect kept, the long side at most
    LONG_SIDE_CAP * side (a longer panorama gets a short side below `side` instead).

    Rounded down, as torchvision's Resize(side) does, so SSCD-style models see what they did.
    """
    cap = LONG_SIDE_CAP * side
    short, long = min(width, height), max(width, height)
    if long * side <= cap * short:
        new_short, new_long = side, long * side // short
    else:
        new_short, new_long = max(1, short * cap // long), cap
    return (new_short, new_long) if width <= height else (new_long, new_short)
