"""Shared fixtures: real git repositories, generated images, and this checkout as a hook repo."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "benchmarks"))  # shared picture generator
from pictures import picture as picture  # noqa: E402  (re-exported to the tests)

PROJECT_FILES = ("dupgate_hook", "pyproject.toml", ".pre-commit-hooks.yaml", "README.md")


# A test that takes any of these runs real pre-commit (its first use builds the hook's
# environment, ~12 s; `try-repo` builds one every call): it is marked slow.
PRE_COMMIT_FIXTURES = frozenset({"hook", "hook_repo", "hook_env", "pre_commit_home"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PRE_COMMIT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def run(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    check: bool = True,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, input=input_text)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["git", *args], repo, check=check)


def save(img: Image.Image, path: Path, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kwargs)
    return path


def stage_and_record(repo: Path) -> None:
    """Make the manifest complete for what is staged (exit 3, then 0), then commit."""
    from dupgate_hook.main import main

    git(repo, "add", "-A")
    assert main(["check"]) in (0, 3)
    git(repo, "add", "-A")
    assert main(["check"]) == 0
    git(repo, "commit", "-qm", "x", "--no-verify")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty git repository with an identity, as the current directory."""
    path = tmp_path / "site"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "user.name", "Test")
    git(path, "config", "commit.gpgsign", "false")
    monkeypatch.chdir(path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return path


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This checkout (uncommitted edits included) as a committed repo pre-commit can install."""
    dest = tmp_path_factory.mktemp("hook-repo")
    for name in PROJECT_FILES:
        src = PROJECT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", ".")
    run(["git", "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "hook"], dest)
    rev = git(dest, "rev-parse", "HEAD").stdout.strip()
    return dest, rev


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One pre-commit store for the session, so the hook's environment is built once."""
    yield tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def hook_env(pre_commit_home: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRE_COMMIT", "GIT_", "SKIP"))}
    env["PRE_COMMIT_HOME"] = str(pre_commit_home)
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env["PRE_COMMIT_COLOR"] = "never"
    bindir = str(Path(sys.executable).parent)  # pre-commit and git from this environment
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def hook_exit(proc: subprocess.CompletedProcess[str]) -> int:
    """dupgate's own exit code from `pre-commit --verbose` output (pre-commit itself says 1)."""
    found = re.search(r"- exit code: (\d+)", proc.stdout)
    if found:
        return int(found.group(1))
    assert proc.returncode == 0 and "Passed" in proc.stdout, proc.stdout + proc.stderr
    return 0


class Hook:
    """Runs the hook on a repo through real pre-commit.

    `run` uses a config outside the repo and the session's pre-commit store (the hook's
    environment is built once); `try_repo` is the real `pre-commit try-repo`, which builds a
    fresh environment every call (~12 s), so only a few tests use it.
    """

    def __init__(
        self, hook_repo: tuple[Path, str], env: dict[str, str], repo: Path, hook_id: str = "dupgate"
    ) -> None:
        self.path, self.rev = hook_repo
        self.env = env
        self.repo = repo
        self.hook_id = hook_id
        self.config = repo.parent / "pre-commit-config.yaml"
        self.config.write_text(self._config_text())

    def _config_text(self, extra: str = "") -> str:
        return f"repos:\n- repo: {self.path}\n  rev: {self.rev}\n  hooks:\n  - id: {self.hook_id}\n{extra}"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [
            sys.executable,
            "-m",
            "pre_commit",
            "run",
            self.hook_id,
            "-c",
            str(self.config),
            "--verbose",
            *args,
        ]
        return run(cmd, self.repo, env=self.env, check=False)

    def try_repo(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(self.path),
            self.hook_id,
            "--ref",
            self.rev,
            "--verbose",
            *args,
        ]
        return run(cmd, self.repo, env=self.env, check=False)

    def install(self, extra_config: str = "") -> None:
        (self.repo / ".pre-commit-config.yaml").write_text(self._config_text(extra_config))
        run([sys.executable, "-m", "pre_commit", "install"], self.repo, env=self.env)

    def commit(self, message: str = "change") -> subprocess.CompletedProcess[str]:
        """`git commit` with the hook's output (git hooks write to stderr) in `stdout`."""
        proc = run(["git", "commit", "-m", message], self.repo, env=self.env, check=False)
        return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout + proc.stderr, "")


@pytest.fixture
def hook(hook_repo: tuple[Path, str], hook_env: dict[str, str], repo: Path) -> Hook:
    return Hook(hook_repo, hook_env, repo)
