"""The `onnx` backend: CNN features (ResNet50, VGG16 fc1, MobileNet, ...) from a model the user brings.

Why it looks the way it does:

* Offline and optional: the model is a local `.onnx` file, nothing is downloaded, and
  onnxruntime comes with the `onnx` extra only; it is imported lazily (see onnx_model.py).
* Images are fed the way ImageNet models were trained: resized so the short side is
  size/0.875 and centre-cropped (or stretched), in RGB or BGR order, normalised by
  mean/std in 0..255 pixel units, in the layout the model's input declares (NCHW or NHWC).
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
from dupgate_hook.backends.onnx_model import FactsCache, ModelFacts, ModelFile, one_line, show_shape
from dupgate_hook.errors import DupgateError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from onnxruntime import InferenceSession
    from PIL import Image

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # RGB, 0..255 pixel units (torchvision's)
IMAGENET_STD = (58.395, 57.12, 57.375)
DEFAULT_SIDE = 224
CROP_FRACTION = 0.875  # torchvision's Resize(256) + CenterCrop(224)


class OnnxBackend(CosineScores):
    """Embeds images with a local ONNX model; see the module docstring for the why."""

    name = "onnx"
    batch_size = 16
    transparency = "white"  # images.WHITE: what a model trained on flattened pictures expects
    # CNN features after ReLU/swish are mostly positive, so unrelated images score well
    # above 0 (0.3-0.7). With EfficientNet-Lite0 on the public benchmark, 0.85 gave gate
    # precision 0.976 (best pair F1 sat at 0.80): a gate should rather miss than cry wolf.
    default_threshold = 0.85

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
        self.dimensions = self.facts.dimensions
        side = max(self.facts.height, self.facts.width)
        # images.load shrinks the longest side to this: enough for the short side of a 4:3
        # picture to reach size/0.875 before the crop, without decoding more than needed.
        self.input_side = max(64, math.ceil(1.5 * side / CROP_FRACTION))
        self.model = f"{self.facts.sha256[:12]}-{self._preprocessing_id()}"

    @property
    def model_sha256(self) -> str:
        return self.facts.sha256

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One forward pass per batch; rows come back L2-normalised float32."""
        if not images:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        batch = np.stack([self.prepare(img) for img in images])
        vectors = self._forward(batch, self.facts)
        if vectors.shape[1] != self.dimensions:
            raise DupgateError(
                f"model_path: {self.file.shown} gave {vectors.shape[1]} values per image, "
                f"expected {self.dimensions}; if the file changed without a new mtime, delete "
                f"{FactsCache(self.settings.cache_dir).path or 'the cache'} and run it again"
            )
        return l2_normalise(vectors)

    def prepare(self, img: Image.Image) -> np.ndarray:
        """One image as the model takes it: resized, cropped, ordered, normalised, laid out."""
        from PIL import Image as PILImage

        facts = self.facts
        h, w = facts.height, facts.width
        if img.mode != "RGB":
            img = img.convert("RGB")
        if self.settings.resize == "crop":
            scale = max(h / img.height, w / img.width) / CROP_FRACTION
            rw, rh = max(w, round(img.width * scale)), max(h, round(img.height * scale))
            img = img.resize((rw, rh), PILImage.Resampling.BILINEAR)
            left, top = (rw - w) // 2, (rh - h) // 2
            img = img.crop((left, top, left + w, top + h))
        else:
            img = img.resize((w, h), PILImage.Resampling.BILINEAR)
        pixels = np.asarray(img, dtype=np.float32)
        if self.settings.channel_order == "bgr":
            pixels = pixels[..., ::-1]
        pixels = (pixels - self.mean) / self.std
        if facts.layout == "nchw":
            pixels = pixels.transpose(2, 0, 1)
        return np.ascontiguousarray(pixels, dtype=np.float16 if facts.half else np.float32)

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
            half=io["half"],
            output_name=io["output_name"],
            dimensions=0,
        )
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

    def _preprocessing_id(self) -> str:
        """Short hash of every setting that changes the vectors besides the model file."""
        s = self.settings
        parts = [
            self.facts.height,
            self.facts.width,
            [round(float(v), 6) for v in self.mean],
            [round(float(v), 6) for v in self.std],
            s.channel_order,
            s.resize,
            self.facts.output_name,
        ]
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
                    f"model_path: {self.file.shown}: running the model on {facts.height}x{facts.width} "
                    f"images failed ({one_line(exc)}); check input_size"
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
