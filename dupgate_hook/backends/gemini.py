"""The `gemini` backend: Google's multimodal `gemini-embedding-2` through the google-genai SDK.

Why it looks the way it does:

* `google.genai` costs ~0.5 s to import (pydantic plus a 24k-line types module), so it is
  imported inside the first `embed()` call, never at construction: a commit whose images
  are all in the manifest never pays for it.
* One `embed()` call is exactly one HTTP request carrying one `Content` per image. A list of
  bare `Part`s would be merged into ONE content and come back as ONE vector; and one
  request per call lets the pipeline cache what each call paid for before the next one.
* The SDK retries 408/429/5xx, timeouts and refused connections itself (tenacity, with
  exponential backoff and jitter); everything that still fails becomes one `DupgateError`
  line that names the setting or variable to fix and never contains the key.
"""

from __future__ import annotations

import io
import json
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from dupgate_hook.backends.base import BackendSettings, CosineScores, l2_normalise
from dupgate_hook.errors import DupgateError
from dupgate_hook.util import one_line

if TYPE_CHECKING:
    from collections.abc import Sequence

    from google.genai import Client
    from PIL import Image

DEFAULT_MODEL = "gemini-embedding-2"
DEFAULT_DIMENSIONS = 768
MIN_DIMENSIONS, MAX_DIMENSIONS = 128, 3072
# The SDK's own precedence (it warns "Using GOOGLE_API_KEY" when both are set), kept so
# that warning stays true and the key used is the one any other google-genai tool would use.
KEY_VARIABLES = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
BASE_URL_VARIABLE = "GOOGLE_GEMINI_BASE_URL"
# Seconds; scales the whole backoff (initial delay and jitter). Tests set it to ~0.01.
RETRY_DELAY_VARIABLE = "DUPGATE_GEMINI_RETRY_DELAY"
RETRY_STATUS_CODES = [408, 429, 500, 502, 503, 504]
_KEY_HINT = "set GEMINI_API_KEY (or GOOGLE_API_KEY) to a Gemini API key"


class GeminiBackend(CosineScores):
    """Embeds images with gemini-embedding-2; see the module docstring for the why."""

    name = "gemini"
    # 768 px is one Gemini image tile: a larger upload only costs more tokens and bytes,
    # while global layout, colour and content, which is what near-duplicates share, survive.
    input_side = 768
    # The API takes at most 100 requests (one per image) in one batchEmbedContents call.
    batch_size = 100
    transparency = "white"  # images.WHITE: what a model trained on flattened pictures expects
    # An estimate, not measured against the live model: a semantic embedding scores copies
    # of one picture near 1 but different photos of one subject high too, so it sits above
    # the local backend's 0.9. `dupgate calibrate` finds the right value for a repo.
    default_threshold = 0.92
    candidate_threshold = 0.92  # not measured lower: the default until a benchmark says otherwise
    # JPEG q90 without chroma subsampling: 5-10x smaller than PNG for photos (faster
    # uploads), and its artefacts are far below anything a near-duplicate check looks at.
    jpeg_quality = 90

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings
        self.model = settings.model or DEFAULT_MODEL
        dims = DEFAULT_DIMENSIONS if settings.dimensions is None else settings.dimensions
        if (
            isinstance(dims, bool)
            or not isinstance(dims, int)
            or not (MIN_DIMENSIONS <= dims <= MAX_DIMENSIONS)
        ):
            raise DupgateError(
                f"dimensions: {dims!r} is not valid for the gemini backend "
                f"(an integer {MIN_DIMENSIONS}..{MAX_DIMENSIONS}; 768, 1536 or 3072 recommended)"
            )
        self.dimensions = dims
        if not settings.timeout_seconds > 0:
            raise DupgateError("timeout_seconds: must be a positive number of seconds")
        if settings.max_retries < 0:
            raise DupgateError("max_retries: must be 0 or more")
        delay = os.environ.get(RETRY_DELAY_VARIABLE, "1.0")
        try:
            self.retry_initial_delay = float(delay)
        except ValueError:
            raise DupgateError(f"{RETRY_DELAY_VARIABLE}: {delay!r} is not a number") from None
        self.retry_max_delay = 30.0 * self.retry_initial_delay
        self._client: Client | None = None
        self._key = ""
        self._key_variable = ""

    def outdated_vectors_error(self, where: str) -> str | None:
        """Another model or size re-embeds as it goes; the hook says `dupgate update` does it at once."""
        return None

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One request of one content per image; rows come back L2-normalised float32."""
        if not images:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if len(images) > self.batch_size:
            raise ValueError(f"embed() takes at most {self.batch_size} images")
        try:
            from google.genai import types
        except ImportError:
            raise DupgateError(
                "gemini backend: the google-genai package is not installed; "
                "pip install 'dupgate-hook[gemini]' (with pre-commit: the hook id dupgate-gemini)"
            ) from None

        contents = [
            types.Content(parts=[types.Part.from_bytes(data=self._encode(img), mime_type="image/jpeg")])
            for img in images
        ]
        client = self._get_client()
        # No task_type: gemini-embedding-2 takes task instructions as text in the prompt,
        # and an image-vs-image comparison is symmetric anyway.
        config = types.EmbedContentConfig(output_dimensionality=self.dimensions)
        try:
            response = client.models.embed_content(model=self.model, contents=contents, config=config)
        except Exception as exc:  # every SDK/HTTP failure ends as one line
            raise DupgateError(self._describe(exc)) from None
        return self._vectors(response.embeddings, len(images))

    def _encode(self, img: Image.Image) -> bytes:
        """JPEG bytes of `img`, downscaled to `input_side` (the API takes PNG/JPEG only)."""
        from PIL import Image as PILImage

        if img.mode != "RGB":
            img = img.convert("RGB")
        if max(img.size) > self.input_side:
            img = img.copy()
            img.thumbnail((self.input_side, self.input_side), PILImage.Resampling.LANCZOS)
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=self.jpeg_quality, subsampling=0)
        return out.getvalue()

    def _get_client(self) -> Client:
        """The SDK client, built once; this is where google.genai gets imported."""
        if self._client is not None:
            return self._client
        found = [(v, os.environ.get(v, "").strip()) for v in KEY_VARIABLES]
        self._key_variable, key = next(((v, k) for v, k in found if k), ("", ""))
        if not key:
            raise DupgateError(f"gemini backend: no API key; {_KEY_HINT}")
        from google import genai
        from google.genai import types

        base_url = self.settings.base_url or os.environ.get(BASE_URL_VARIABLE) or None
        retry = types.HttpRetryOptions(
            attempts=self.settings.max_retries + 1,
            initial_delay=self.retry_initial_delay,
            max_delay=self.retry_max_delay,
            exp_base=2,
            jitter=self.retry_initial_delay,
            http_status_codes=RETRY_STATUS_CODES,
        )
        http_options = types.HttpOptions(
            base_url=base_url,
            timeout=max(1, math.ceil(self.settings.timeout_seconds * 1000)),  # milliseconds
            retry_options=retry,
        )
        self._key = key
        try:
            # vertexai=False: a stray GOOGLE_GENAI_USE_VERTEXAI must not reroute the upload.
            self._client = genai.Client(api_key=key, vertexai=False, http_options=http_options)
        except Exception as exc:
            reason = self._clean(exc)
            raise DupgateError(f"gemini backend: cannot set up the client: {reason}") from None
        return self._client

    def _vectors(self, embeddings: Any, expected: int) -> np.ndarray:
        """Check the response has one finite vector of the right length per image."""
        where = f"gemini backend: malformed response from {self.model}"
        got = len(embeddings) if embeddings is not None else 0
        if got != expected:
            raise DupgateError(f"{where}: {got} embeddings for {expected} images")
        rows = []
        for emb in embeddings:
            values = emb.values or []
            if len(values) != self.dimensions:
                raise DupgateError(f"{where}: a vector of {len(values)} values, expected {self.dimensions}")
            rows.append(values)
        vectors = np.asarray(rows, dtype=np.float32)
        if not np.isfinite(vectors).all():
            raise DupgateError(f"{where}: non-finite values in a vector")
        return l2_normalise(vectors)

    def _describe(self, exc: BaseException) -> str:
        """One line for any failure of the embed request, naming what to fix."""
        from google.genai import errors

        tries = self.settings.max_retries + 1
        after = f" after {tries} attempt{'s' if tries > 1 else ''}"
        if isinstance(exc, errors.APIError):
            what = f"{exc.code} {exc.status or ''}".strip()
            detail = self._clean(exc.message or "")
            text = f"{what}: {detail}" if detail else what
            if exc.code == 400 and "api key" in (detail.lower() + str(exc.details).lower()):
                return (
                    f"gemini backend: the API key in {self._key_variable} was rejected ({text}); {_KEY_HINT}"
                )
            if exc.code in (401, 403):
                return (
                    f"gemini backend: the API key in {self._key_variable} may not use "
                    f"{self.model} ({text}); check the key and its project"
                )
            if exc.code == 404:
                return f"gemini backend: model not found ({text}); check the `model` setting"
            if exc.code == 429:
                return (
                    f"gemini backend: quota exhausted ({text}){after}; wait and re-run "
                    "(vectors from earlier batches are kept)"
                )
            if exc.code >= 500 or exc.code == 408:
                return f"gemini backend: service error ({text}){after}; try again later"
            return f"gemini backend: request rejected ({text})"
        kinds = {c.__name__ for c in type(exc).__mro__ if c.__module__.startswith("httpx")}
        if "TimeoutException" in kinds:
            return (
                f"gemini backend: no answer within {self.settings.timeout_seconds:g} s"
                f"{after}; raise `timeout_seconds` or try again later"
            )
        if "ConnectError" in kinds:
            return (
                f"gemini backend: cannot connect to {self._endpoint()}{after} "
                f"({self._clean(exc)}); check the network or `base_url`"
            )
        if "TransportError" in kinds:
            return f"gemini backend: network error ({self._clean(exc)}); try again later"
        if isinstance(exc, json.JSONDecodeError):
            return f"gemini backend: malformed response from {self.model}: the answer is not JSON"
        if isinstance(exc, ValueError):  # e.g. pydantic validation of an odd JSON shape
            return f"gemini backend: malformed response from {self.model}: {self._clean(exc)}"
        return f"gemini backend: {type(exc).__name__}: {self._clean(exc)}"

    def _endpoint(self) -> str:
        return (
            self.settings.base_url
            or os.environ.get(BASE_URL_VARIABLE)
            or "https://generativelanguage.googleapis.com"
        )

    def _clean(self, exc: object, limit: int = 200) -> str:
        """`exc` as one short line with the key (should it ever be echoed) masked."""
        text = " ".join(str(exc).split())  # a text, not `exc`: no type name for an empty message
        return one_line(text.replace(self._key, "***") if self._key else text, limit)
