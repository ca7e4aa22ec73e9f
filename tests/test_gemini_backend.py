"""The gemini backend with the REAL google-genai client talking HTTP to tests/fake_gemini.py.

Nothing here reaches the network: every request goes to a FakeGemini on 127.0.0.1. Retry
backoff is shortened with DUPGATE_GEMINI_RETRY_DELAY so the whole file runs in seconds.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dupgate_hook.backends.base import BackendSettings
from dupgate_hook.backends.gemini import GeminiBackend
from dupgate_hook.errors import DupgateError
from fake_gemini import FakeGemini, Fault

KEY = "AIzaFAKE-s3cr3t-k3y-0123456789"
REPO = Path(__file__).resolve().parents[1]
SDK_VARIABLES = (
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_VERTEX_BASE_URL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: the user's own Google variables must not leak in."""
    for name in SDK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("DUPGATE_GEMINI_RETRY_DELAY", "0.01")


@pytest.fixture
def server() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=KEY) as fake:
        yield fake


def backend_for(server: FakeGemini | None, **fields: object) -> GeminiBackend:
    values: dict[str, object] = {"name": "gemini", "timeout_seconds": 5.0, "max_retries": 2}
    if server is not None:
        values["base_url"] = server.base_url
    values.update(fields)
    return GeminiBackend(BackendSettings(**values))  # type: ignore[arg-type]


def picture(seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    """A smooth random RGB picture: each seed gives a different one."""
    rng = np.random.default_rng(seed)
    coarse = (rng.random((6, 8, 3)) * 255).astype(np.uint8)
    return Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)


def reencoded(img: Image.Image, quality: int = 60) -> Image.Image:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def expect_failure(backend: GeminiBackend, images: list[Image.Image]) -> str:
    """embed() fails with a one-line DupgateError that hides the SDK exception and the key."""
    with pytest.raises(DupgateError) as info:
        backend.embed(images)
    message = str(info.value)
    assert "\n" not in message and message.startswith("gemini backend:")
    assert KEY not in message and KEY not in repr(info.value)
    error = info.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return message


# -- correct calls -------------------------------------------------------------------------


def test_one_vector_per_image_and_near_duplicates_score_high(server: FakeGemini) -> None:
    backend = backend_for(server)
    a = picture(1, (400, 300))
    images = [a, a.resize((160, 120)), reencoded(a), picture(2, (400, 300)), picture(3)]
    vectors = backend.embed(images)
    assert vectors.shape == (5, 768) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    scores = backend.similarity(vectors, vectors)
    assert scores[0, 1] > backend.default_threshold  # resized copy
    assert scores[0, 2] > backend.default_threshold  # re-compressed copy
    assert max(scores[0, 3], scores[0, 4], scores[3, 4]) < 0.5  # different pictures
    (seen,) = server.requests
    assert seen.n_contents == 5 and seen.parts_per_content == [1] * 5
    assert seen.mime_types == ["image/jpeg"] * 5 and seen.dimensions == [768] * 5
    assert seen.task_types == [None] * 5  # no task_type: not meaningful for image pairs


def test_250_images_go_as_three_requests_of_one_content_per_image(server: FakeGemini) -> None:
    backend = backend_for(server, dimensions=256)
    images = [picture(seed, (64, 48)) for seed in range(250)]
    chunks = [images[i : i + backend.batch_size] for i in range(0, 250, backend.batch_size)]
    vectors = np.concatenate([backend.embed(chunk) for chunk in chunks])
    assert vectors.shape == (250, 256)
    assert [r.n_contents for r in server.requests] == [100, 100, 50]
    for seen in server.requests:
        assert seen.path == "/v1/models/gemini-embedding-2:batchEmbedContents"
        assert seen.parts_per_content == [1] * seen.n_contents
        assert set(seen.mime_types) == {"image/jpeg"} and set(seen.dimensions) == {256}
        assert set(seen.models) == {"models/gemini-embedding-2"}
        assert seen.key_ok and seen.headers["x-goog-api-key"] == "<key>"
    # content-derived and deterministic: embedding again gives the same vectors
    assert np.allclose(backend.embed(images[:3]), vectors[:3], atol=1e-6)


def test_large_and_non_rgb_images_are_downscaled_and_sent_as_jpeg(server: FakeGemini) -> None:
    backend = backend_for(server)
    big = picture(5, (3000, 1000))
    rgba = picture(6).convert("RGBA")
    gray = picture(7).convert("L")
    assert backend.embed([big, rgba, gray]).shape == (3, 768)
    (seen,) = server.requests
    assert seen.image_sizes == [(768, 256), (96, 72), (96, 72)]
    assert seen.mime_types == ["image/jpeg"] * 3
    assert big.size == (3000, 1000)  # the caller's image is left alone


def test_model_and_dimensions_settings_reach_the_request(server: FakeGemini) -> None:
    backend = backend_for(server, model="gemini-embedding-2-preview", dimensions=3072)
    assert backend.embed([picture(1)]).shape == (1, 3072)
    assert server.requests[0].path == "/v1/models/gemini-embedding-2-preview:batchEmbedContents"
    assert server.requests[0].dimensions == [3072]


def test_nothing_to_embed_sends_nothing(server: FakeGemini) -> None:
    assert backend_for(server).embed([]).shape == (0, 768)
    assert server.requests == []


def test_more_than_one_batch_in_one_call_is_refused(server: FakeGemini) -> None:
    with pytest.raises(ValueError):
        backend_for(server).embed([picture(1, (8, 8))] * 101)
    assert server.requests == []


@pytest.mark.parametrize("dims", [127, 3073, 0, True, "768", 768.0])
def test_bad_dimensions_name_the_setting(dims: object) -> None:
    with pytest.raises(DupgateError, match=r"^dimensions: "):
        backend_for(None, dimensions=dims)


def test_dimension_bounds_and_defaults() -> None:
    assert backend_for(None, dimensions=128).dimensions == 128
    assert backend_for(None, dimensions=3072).dimensions == 3072
    default = backend_for(None)
    assert (default.name, default.model, default.dimensions) == (
        "gemini",
        "gemini-embedding-2",
        768,
    )
    assert default.batch_size == 100 and 0 < default.default_threshold < 1


# -- retries and failures ------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 408, 500, 502, 503, 504])
def test_transient_errors_are_retried(server: FakeGemini, status: int) -> None:
    server.push(Fault.error(status), Fault.error(status))
    assert backend_for(server, max_retries=2).embed([picture(1)]).shape == (1, 768)
    assert len(server.requests) == 3


def test_quota_exhausted_after_retries(server: FakeGemini) -> None:
    server.push(*[Fault.error(429, "Resource has been exhausted (e.g. check quota).")] * 4)
    message = expect_failure(backend_for(server, max_retries=2), [picture(1)])
    assert "quota exhausted" in message and "429 RESOURCE_EXHAUSTED" in message
    assert "after 3 attempts" in message
    assert len(server.requests) == 3 and len(server.faults) == 1


def test_server_errors_until_retries_run_out(server: FakeGemini) -> None:
    server.push(Fault.error(500), Fault.error(503), Fault.not_json(503))
    message = expect_failure(backend_for(server, max_retries=2), [picture(1)])
    assert "service error (503" in message and "after 3 attempts" in message
    assert len(server.requests) == 3


def test_bad_request_is_not_retried(server: FakeGemini) -> None:
    server.push(Fault.error(400, "Request contains an invalid argument."))
    message = expect_failure(backend_for(server), [picture(1)])
    assert "request rejected (400 INVALID_ARGUMENT: Request contains an invalid argument.)" in message
    assert len(server.requests) == 1


def test_wrong_key_says_which_variable(server: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaWRONG-other-key")
    message = expect_failure(backend_for(server), [picture(1)])
    assert "API key in GEMINI_API_KEY was rejected" in message and "AIzaWRONG" not in message
    assert len(server.requests) == 1 and not server.requests[0].key_ok


def test_permission_denied(server: FakeGemini) -> None:
    server.push(Fault.error(403, "Method doesn't allow unregistered callers."))
    message = expect_failure(backend_for(server), [picture(1)])
    assert "403 PERMISSION_DENIED" in message and "GEMINI_API_KEY" in message
    assert len(server.requests) == 1


def test_unknown_model(server: FakeGemini) -> None:
    server.push(Fault.error(404, "models/nope is not found for API version v1"))
    message = expect_failure(backend_for(server, model="nope"), [picture(1)])
    assert "model not found" in message and "`model`" in message


def test_a_key_echoed_by_the_server_is_masked(server: FakeGemini) -> None:
    server.push(Fault.error(400, f"API key {KEY} not valid.\nPlease pass a valid API key."))
    message = expect_failure(backend_for(server), [picture(1)])
    assert "***" in message


def test_timeout(server: FakeGemini) -> None:
    server.push(Fault.delay(5))
    message = expect_failure(backend_for(server, timeout_seconds=0.3, max_retries=0), [picture(1)])
    # the client gave up on its own (the server would answer after 5 s) and did not retry
    assert "no answer within 0.3 s" in message and "timeout_seconds" in message
    assert len(server.requests) == 1


def test_timeout_is_retried(server: FakeGemini) -> None:
    server.push(Fault.delay(5))
    assert backend_for(server, timeout_seconds=0.3, max_retries=1).embed([picture(1)]).shape == (
        1,
        768,
    )
    assert len(server.requests) == 2


def test_connection_refused() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = backend_for(None, base_url=f"http://127.0.0.1:{port}", max_retries=1)
    message = expect_failure(backend, [picture(1)])
    assert f"cannot connect to http://127.0.0.1:{port}" in message and "base_url" in message


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.wrong_count(-1), "2 embeddings for 3 images"),
        (Fault.wrong_count(+1), "4 embeddings for 3 images"),
        (Fault.wrong_dims(512), "a vector of 512 values, expected 768"),
        (Fault.nan(), "non-finite values"),
        (Fault.not_json(), "not JSON"),
    ],
)
def test_malformed_responses(server: FakeGemini, fault: Fault, expected: str) -> None:
    server.push(fault)
    message = expect_failure(backend_for(server), [picture(1), picture(2), picture(3)])
    assert "malformed response" in message and expected in message
    assert len(server.requests) == 1  # a 200 answer is never retried: it may have been paid for


def test_the_backend_recovers_after_a_failure(server: FakeGemini) -> None:
    backend = backend_for(server, max_retries=0)
    server.push(Fault.error(503))
    expect_failure(backend, [picture(1)])
    assert backend.embed([picture(1)]).shape == (1, 768)


# -- keys, endpoints and the environment ----------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_key(server: FakeGemini, monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    if value is not None:
        monkeypatch.setenv("GEMINI_API_KEY", value)
    backend = backend_for(server)  # constructing needs no key: only embedding does
    with pytest.raises(DupgateError, match="GEMINI_API_KEY") as info:
        backend.embed([picture(1)])
    assert "\n" not in str(info.value)
    assert server.requests == []


def test_google_api_key_wins_like_in_the_sdk(server: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaOTHER-gemini-key")
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    assert backend_for(server).embed([picture(1)]).shape == (1, 768)
    assert server.requests[0].key_ok


def test_the_key_is_never_printed_or_logged(
    server: FakeGemini, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    backend = backend_for(server, max_retries=1)
    backend.embed([picture(1)])
    server.push(Fault.error(429), Fault.error(400, "bad"))
    expect_failure(backend, [picture(1)])
    out, err = capfd.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert KEY not in out + err + logged
    assert KEY not in repr(backend) and all(KEY not in repr(r) for r in server.requests)


def test_vertex_variable_does_not_reroute(server: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "some-project")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    assert backend_for(server).embed([picture(1)]).shape == (1, 768)
    assert server.requests[0].path == "/v1/models/gemini-embedding-2:batchEmbedContents"


def test_base_url_from_the_environment(server: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.base_url)
    assert backend_for(None).embed([picture(1)]).shape == (1, 768)
    assert len(server.requests) == 1


def test_base_url_setting_beats_the_environment(server: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    assert backend_for(server).embed([picture(1)]).shape == (1, 768)
    assert len(server.requests) == 1


def test_missing_sdk_is_a_one_line_error(server: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.genai", None)  # makes the import fail
    message = expect_failure(backend_for(server), [picture(1)])
    assert "google-genai package is not installed" in message


def test_retry_delay_knob_must_be_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUPGATE_GEMINI_RETRY_DELAY", "soon")
    with pytest.raises(DupgateError, match="DUPGATE_GEMINI_RETRY_DELAY"):
        backend_for(None)


# -- start-up cost ---------------------------------------------------------------------------

_LAZY_PROBE = """
import json, sys, time
started = time.perf_counter()
import numpy as np
from dupgate_hook.backends import get_backend
from dupgate_hook.backends.base import BackendSettings
backend = get_backend(BackendSettings(name="gemini", dimensions=256))
vectors = np.eye(2, 256, dtype=np.float32)
backend.similarity(vectors, vectors)
backend.embed([])
ready = time.perf_counter() - started
lazy = not any(m == "google.genai" or m.startswith("google.genai.") for m in sys.modules)
started = time.perf_counter()
import google.genai
print(json.dumps({"lazy": lazy, "ready": ready, "genai": time.perf_counter() - started}))
"""


def test_constructing_and_comparing_does_not_import_google_genai() -> None:
    env = {k: v for k, v in os.environ.items() if k not in SDK_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _LAZY_PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["lazy"], "google.genai was imported before anything needed embedding"
