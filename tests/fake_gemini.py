"""A local stand-in for the Gemini API's `batchEmbedContents`, for tests with the real SDK.

It speaks the documented wire format (POST /{version}/models/{model}:batchEmbedContents,
`x-goog-api-key`, inline base64 image parts in snake_case or camelCase, answers
`{"embeddings": [{"values": [...]}]}` or Google's `{"error": {code, message, status}}`).

Vectors are derived from the image CONTENT, so near-duplicates really score high: the
image is decoded with Pillow, reduced to a 16x16 grayscale thumbnail, mean-subtracted
(plus its mean as one extra feature, so flat images are not zero) and projected by a
fixed random matrix onto `outputDimensionality` values. The first N columns are the same
whatever N is (like the real Matryoshka vectors) and the result is deliberately NOT unit
length, so the client has to normalise.

Every request is recorded (headers with the key value masked) and faults can be queued:
each request takes the next queued fault, if any, instead of the normal answer.

    with FakeGemini(api_key="k") as server:
        server.push(Fault.error(429), Fault.error(503))
        ... base_url=server.base_url ...
        assert len(server.requests) == 3
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image

THUMB = 16
MAX_DIMENSIONS = 3072
ACCEPTED_MIME_TYPES = ("image/png", "image/jpeg")
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_PROJECTION = np.random.default_rng(20261).standard_normal((THUMB * THUMB + 1, MAX_DIMENSIONS))


def content_vector(image_bytes: bytes, dimensions: int) -> np.ndarray:
    """The server's (unnormalised) vector of one encoded image."""
    with Image.open(io.BytesIO(image_bytes)) as img:
        thumb = img.convert("L").resize((THUMB, THUMB), Image.Resampling.BOX)
    pixels = np.asarray(thumb, dtype=np.float64).reshape(-1) / 255.0
    features = np.append(pixels - pixels.mean(), 0.1 * pixels.mean())
    return 3.7 * (features @ _PROJECTION[:, :dimensions])


@dataclass
class Fault:
    """One scripted answer in place of the normal one (build with the class methods)."""

    kind: str
    status: int = 200
    message: str = ""
    seconds: float = 0.0
    value: int = 0
    name: str | None = None

    @classmethod
    def error(cls, status: int, message: str = "", name: str | None = None) -> Fault:
        """An HTTP error in Google's shape; `name` overrides the usual status name."""
        return cls("error", status, message or f"fake error {status}", name=name)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait `seconds` (longer than the client's timeout), then answer normally."""
        return cls("delay", seconds=seconds)

    @classmethod
    def wrong_count(cls, delta: int = -1) -> Fault:
        """Answer with `delta` more (or fewer) embeddings than contents."""
        return cls("wrong_count", value=delta)

    @classmethod
    def wrong_dims(cls, dimensions: int) -> Fault:
        return cls("wrong_dims", value=dimensions)

    @classmethod
    def not_json(cls, status: int = 200) -> Fault:
        return cls("not_json", status=status)

    @classmethod
    def nan(cls) -> Fault:
        """A vector with a NaN in it (Python's json accepts the bare `NaN` token)."""
        return cls("nan")


@dataclass
class RecordedRequest:
    """What one request carried; the key itself is never stored, only whether it matched."""

    path: str
    version: str
    model: str
    headers: dict[str, str]
    key_ok: bool
    n_contents: int = 0
    parts_per_content: list[int] = field(default_factory=list)
    mime_types: list[str] = field(default_factory=list)
    dimensions: list[int | None] = field(default_factory=list)
    task_types: list[str | None] = field(default_factory=list)
    models: list[str | None] = field(default_factory=list)
    image_sizes: list[tuple[int, int]] = field(default_factory=list)
    image_bytes: int = 0


class FakeGemini:
    """The fake server: a ThreadingHTTPServer on 127.0.0.1 with an ephemeral port."""

    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def start(self) -> FakeGemini:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # cuts short any Fault.delay still sleeping
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling (runs in the server's threads) --

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        version, _, rest = path.partition("?")[0].lstrip("/").partition("/")
        model, _, verb = rest.removeprefix("models/").partition(":")
        key = headers.get("x-goog-api-key")
        shown = {k: ("<key>" if k == "x-goog-api-key" else v) for k, v in headers.items()}
        record = RecordedRequest(path, version, model, shown, key_ok=key == self.api_key)
        with self._lock:
            self.requests.append(record)
            fault = self.faults.pop(0) if self.faults else None
        if method != "POST" or verb != "batchEmbedContents" or not rest.startswith("models/"):
            return _error(404, f"unknown path {path}")
        try:
            requests = json.loads(body)["requests"]
            self._record(record, requests)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _error(400, f"bad request body: {exc}")
        if fault is not None and fault.kind == "delay":
            self._stop.wait(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "error":
            return _error(fault.status, fault.message, fault.name)
        if fault is not None and fault.kind == "not_json":
            return fault.status, b"<html>Service Unavailable</html>"
        if key is None or key != self.api_key:
            return _error(400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID")
        if len(requests) > 100:
            return _error(
                400,
                "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch",
            )
        try:
            vectors = [self._vector(r) for r in requests]
        except _BadInput as exc:
            return _error(400, str(exc))
        if fault is not None and fault.kind == "wrong_count":
            vectors = (vectors + vectors)[: max(0, len(vectors) + fault.value)]
        if fault is not None and fault.kind == "wrong_dims":
            vectors = [np.resize(v, fault.value) for v in vectors]
        rows: list[list[Any]] = [[float(x) for x in v] for v in vectors]
        if fault is not None and fault.kind == "nan" and rows:
            rows[0][0] = float("nan")
        answer = {
            "embeddings": [{"values": r} for r in rows],
            "usageMetadata": {"promptTokenCount": 258 * len(rows)},
        }
        return 200, json.dumps(answer).encode()

    @staticmethod
    def _record(record: RecordedRequest, requests: list[dict[str, Any]]) -> None:
        record.n_contents = len(requests)
        for r in requests:
            parts = r["content"]["parts"]
            record.parts_per_content.append(len(parts))
            for part in parts:
                inline = part.get("inline_data") or part.get("inlineData") or {}
                record.mime_types.append(inline.get("mime_type") or inline.get("mimeType") or "")
                data = _decode_b64(inline.get("data", ""))
                record.image_bytes += len(data)
                try:
                    with Image.open(io.BytesIO(data)) as img:
                        record.image_sizes.append(img.size)
                except OSError:
                    record.image_sizes.append((0, 0))
            record.dimensions.append(r.get("outputDimensionality", r.get("output_dimensionality")))
            record.task_types.append(r.get("taskType", r.get("task_type")))
            record.models.append(r.get("model"))

    @staticmethod
    def _vector(request: dict[str, Any]) -> np.ndarray:
        dims = request.get("outputDimensionality", request.get("output_dimensionality")) or MAX_DIMENSIONS
        if not 128 <= int(dims) <= MAX_DIMENSIONS:
            raise _BadInput(f"output_dimensionality must be within [128, {MAX_DIMENSIONS}]")
        parts = request["content"]["parts"]
        if len(parts) != 1:  # enough for these tests: the backend sends one image per content
            raise _BadInput(f"the fake server expects one part per content, got {len(parts)}")
        inline = parts[0].get("inline_data") or parts[0].get("inlineData")
        if not inline:
            raise _BadInput("the fake server only embeds inline images")
        mime = inline.get("mime_type") or inline.get("mimeType")
        if mime not in ACCEPTED_MIME_TYPES:
            raise _BadInput(f"Unsupported MIME type: {mime}")
        try:
            data = _decode_b64(inline["data"])
            return content_vector(data, int(dims))
        except (binascii.Error, OSError, ValueError) as exc:
            raise _BadInput(f"Unable to process input image: {exc}") from exc


class _BadInput(Exception):
    pass


def _decode_b64(text: object) -> bytes:
    """proto3 JSON bytes: the standard or the URL-safe alphabet (the SDK sends URL-safe)."""
    return base64.b64decode(str(text).translate(str.maketrans("-_", "+/")), validate=True)


def _error(
    code: int, message: str, status: str | None = None, reason: str | None = None
) -> tuple[int, bytes]:
    """Google's JSON error shape."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": status or STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
    return code, json.dumps({"error": error}).encode()


def _handler_for(server: FakeGemini) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self._answer("POST")

        def do_GET(self) -> None:  # noqa: N802
            self._answer("GET")

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = server.handle(method, self.path, headers, body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output quiet (and the request line never holds the key anyway)

    return Handler
