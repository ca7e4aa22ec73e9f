"""The gemini backend through the whole product: pre-commit, the manifest, the cache, resume.

The real google-genai client talks HTTP to tests/fake_gemini.py on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Hook, git, hook_exit, picture, save
from dupgate_hook.main import main
from fake_gemini import FakeGemini, Fault

KEY = "AIzaFAKE-flow-k3y-9876543210"


@pytest.fixture
def server() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def gemini_repo(repo: Path, server: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> Path:
    (repo / ".dupgate.yaml").write_text(f"backend: gemini\nbase_url: {server.base_url}\nmax_retries: 2\n")
    for name in ("GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("DUPGATE_GEMINI_RETRY_DELAY", "0.01")
    return repo


def contents_sent(server: FakeGemini) -> list[int]:
    return [r.n_contents for r in server.requests]


def test_commit_flow_through_pre_commit(gemini_repo: Path, server: FakeGemini, hook: Hook) -> None:
    repo = gemini_repo
    hook = Hook((hook.path, hook.rev), hook.env, repo, hook_id="dupgate-gemini")  # google-genai installed
    hook.env.update(GEMINI_API_KEY=KEY, DUPGATE_GEMINI_RETRY_DELAY="0.01")
    for i in range(3):
        save(picture(300 + i), repo / f"p{i}.png")
    git(repo, "add", ".")
    first = hook.try_repo("--files", "p0.png", "p1.png", "p2.png")  # the real try-repo path
    assert "exit code: 3" in first.stdout, first.stdout
    assert contents_sent(server) == [3]
    assert all(m == "image/jpeg" for m in server.requests[0].mime_types)
    assert "/.dupgate/vectors/gemini-gemini-embedding-2-768/" in "/" + first.stdout.split(" add ")[1]
    git(repo, "add", ".dupgate")
    assert hook_exit(hook.run("--files", "p0.png", "p1.png", "p2.png")) == 0
    assert contents_sent(server) == [3]  # nothing new: no request at all
    save(picture(300).resize((200, 150)), repo / "p0-small.jpg", quality=70)
    git(repo, "add", "p0-small.jpg")
    blocked = hook.run("--files", "p0-small.jpg")
    assert hook_exit(blocked) == 1 and "p0-small.jpg  <->  p0.png" in blocked.stdout
    assert hook_exit(hook.run("--files", "p0-small.jpg")) == 1
    assert contents_sent(server) == [3, 1]  # the retry reused the cached vector
    outputs = first.stdout + blocked.stdout
    assert KEY not in outputs
    for path in repo.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_all_in_manifest_never_imports_the_sdk(gemini_repo: Path, server: FakeGemini) -> None:
    repo = gemini_repo
    save(picture(310), repo / "a.png")
    git(repo, "add", ".")
    assert main(["check", "a.png"]) == 3
    git(repo, "add", ".dupgate")
    probe = (
        "import sys; from dupgate_hook.main import main; rc = main(['check', 'a.png']); "
        "print(rc, 'google.genai' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True)
    assert proc.stdout.split() == ["0", "False"], proc.stderr


def test_init_batches_and_resumes_after_a_failure(
    gemini_repo: Path, server: FakeGemini, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = gemini_repo
    for i in range(250):
        picture(400 + i, (48, 36)).save(repo / f"img{i:03d}.png")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "images")
    # Two normal answers, then a bad request on the third batch.
    original_handle = server.handle
    calls = {"n": 0}

    def third_fails(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        calls["n"] += 1
        if calls["n"] == 3:
            server.push(Fault.error(400, "Request contains an invalid argument."))
        return original_handle(method, path, headers, body)

    server.handle = third_fails  # type: ignore[method-assign]
    assert main(["init"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gemini" in err and KEY not in err
    assert contents_sent(server) == [100, 100, 50]
    assert not (repo / ".dupgate").exists()  # a failed init writes no manifest
    server.handle = original_handle  # type: ignore[method-assign]
    assert main(["init"]) == 0
    assert contents_sent(server)[3:] == [50]  # only what was not paid for yet
    assert "250 images in the manifest (50 embedded now)" in capsys.readouterr().out


def test_missing_key_is_one_clear_line(
    gemini_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    save(picture(320), gemini_repo / "a.png")
    git(gemini_repo, "add", ".")
    assert main(["check", "a.png"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GEMINI_API_KEY" in err
