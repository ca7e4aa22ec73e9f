"""The `onnx` backend through the whole product: pre-commit, the manifest, a changed model file.

The hook environment gets onnxruntime from the `dupgate-onnx` hook of .pre-commit-hooks.yaml
(its additional_dependencies), which `pre-commit try-repo` installs like any user's would.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Hook, git, hook_exit, picture, save, stage_and_record
from dupgate_hook.backends.onnx_model import FACTS_FILE
from dupgate_hook.main import main
from onnx_models import conv_model, sscd_like_model

CONFIG = "backend: onnx\nmodel_path: models/tiny.onnx\n"


def _with_model(repo: Path, build: Callable[[Path], object], name: str, config: str) -> Path:
    """The repository with a committed model file and the .dupgate.yaml that names it."""
    build(repo / "models" / name)
    (repo / ".dupgate.yaml").write_text(config)
    git(repo, "add", ".dupgate.yaml", "models")
    git(repo, "commit", "-qm", "model")
    return repo


@pytest.fixture
def onnx_repo(repo: Path) -> Path:
    return _with_model(repo, conv_model, "tiny.onnx", CONFIG)


def space_folders(repo: Path) -> list[str]:
    vectors = repo / ".dupgate" / "vectors"
    return sorted(p.name for p in vectors.iterdir()) if vectors.is_dir() else []


def test_commit_flow_through_pre_commit_try_repo(
    onnx_repo: Path, hook_repo: tuple[Path, str], hook_env: dict[str, str]
) -> None:
    repo = onnx_repo
    hook = Hook(hook_repo, hook_env, repo, hook_id="dupgate-onnx")
    for i in range(3):
        save(picture(500 + i), repo / f"p{i}.png")
    git(repo, "add", ".")
    first = hook.try_repo("--files", "p0.png", "p1.png", "p2.png")  # builds a fresh env with onnxruntime
    assert "exit code: 3" in first.stdout, first.stdout + first.stderr
    [space] = space_folders(repo)
    assert space.startswith("onnx-") and space.endswith("-512")
    assert f".dupgate/vectors/{space}/" in first.stdout.split(" add ")[1]
    git(repo, "add", ".dupgate")
    assert hook_exit(hook.run("--files", "p0.png", "p1.png", "p2.png")) == 0
    save(picture(500).resize((240, 180)), repo / "p0-small.jpg", quality=70)
    save(picture(600), repo / "other.png")
    git(repo, "add", "p0-small.jpg", "other.png")
    blocked = hook.run("--files", "p0-small.jpg", "other.png")
    assert hook_exit(blocked) == 1
    assert "p0-small.jpg  <->  p0.png" in blocked.stdout and "other.png  <->" not in blocked.stdout
    assert "backend onnx/" in blocked.stdout


def test_a_changed_model_file_gives_the_rebuild_command(
    onnx_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = onnx_repo
    for i in range(3):
        save(picture(510 + i), repo / f"p{i}.png")
    stage_and_record(repo)
    [old_space] = space_folders(repo)
    conv_model(repo / "models" / "tiny.onnx", seed=1)  # the model file is replaced
    save(picture(520), repo / "new.png")
    git(repo, "add", "-A")
    capsys.readouterr()
    assert main(["check", "new.png"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "model_path: models/tiny.onnx (sha256 " in err and old_space in err
    assert "rebuild with `dupgate update`" in err and "`dupgate prune --all-backends`" in err
    assert space_folders(repo) == [old_space]  # nothing was written or lost
    assert main(["update"]) == 0
    assert len(space_folders(repo)) == 2
    assert main(["prune", "--all-backends"]) == 0
    [new_space] = space_folders(repo)
    assert new_space != old_space
    git(repo, "add", "-A")
    assert main(["check", "new.png"]) == 0


def test_check_with_everything_in_the_manifest_never_imports_onnxruntime(onnx_repo: Path) -> None:
    repo = onnx_repo
    save(picture(530), repo / "a.png")
    stage_and_record(repo)
    assert (repo / ".git" / "dupgate" / "cache" / FACTS_FILE).is_file()
    probe = (
        "import sys; from dupgate_hook.main import main; rc = main(['check', sys.argv[1]]); "
        "print(rc, 'onnxruntime' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", probe, "a.png"], cwd=repo, capture_output=True, text=True)
    assert proc.stdout.split() == ["0", "False"], proc.stderr
    sub = repo / "docs"
    sub.mkdir()  # model_path is relative to the repository root, not the current folder
    proc = subprocess.run([sys.executable, "-c", probe, "../a.png"], cwd=sub, capture_output=True, text=True)
    assert proc.stdout.split() == ["0", "False"], proc.stderr


def test_missing_onnxruntime_when_a_new_image_needs_it(
    onnx_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = onnx_repo
    save(picture(540), repo / "a.png")
    stage_and_record(repo)  # the model's facts are now cached: no onnxruntime needed to start
    save(picture(541), repo / "b.png")
    git(repo, "add", "b.png")
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(["check", "b.png"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'dupgate-hook[onnx]'" in err


def test_the_local_backend_never_imports_onnxruntime(repo: Path) -> None:
    save(picture(550), repo / "a.png")
    git(repo, "add", ".")
    probe = (
        "import sys; from dupgate_hook.main import main; rc = main(['check', 'a.png']); "
        "print(rc, 'onnxruntime' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True)
    assert proc.stdout.splitlines()[-1] == "3 False", proc.stdout + proc.stderr


# A copy-detection model of SSCD's signature: any height and width, fed with its aspect kept.
SSCD_CONFIG = (
    "backend: onnx\nmodel_path: models/sscd.onnx\nresize: short_side\ninput_size: 64\nthreshold: 0.93\n"
)


@pytest.fixture
def sscd_repo(repo: Path) -> Path:
    return _with_model(repo, sscd_like_model, "sscd.onnx", SSCD_CONFIG)


def test_short_side_flow_through_pre_commit_try_repo(
    sscd_repo: Path, hook_repo: tuple[Path, str], hook_env: dict[str, str]
) -> None:
    repo = sscd_repo
    hook = Hook(hook_repo, hook_env, repo, hook_id="dupgate-onnx")
    sizes = [(320, 240), (240, 320), (500, 120)]  # landscape, portrait, a panorama past the cap
    names = [f"p{i}.png" for i in range(len(sizes))]
    for i, size in enumerate(sizes):
        save(picture(700 + i, size), repo / names[i])
    git(repo, "add", ".")
    first = hook.try_repo("--files", *names)  # builds a fresh env with onnxruntime
    assert "exit code: 3" in first.stdout, first.stdout + first.stderr
    [space] = space_folders(repo)
    assert space.startswith("onnx-") and space.endswith("-256")
    git(repo, "add", ".dupgate")
    assert hook_exit(hook.run("--files", *names)) == 0
    save(picture(701, (240, 320)).resize((180, 240)), repo / "p1-small.jpg", quality=70)
    save(picture(800, (400, 200)), repo / "other.png")
    git(repo, "add", "p1-small.jpg", "other.png")
    blocked = hook.run("--files", "p1-small.jpg", "other.png")
    assert hook_exit(blocked) == 1, blocked.stdout + blocked.stderr
    assert "p1-small.jpg  <->  p1.png" in blocked.stdout and "other.png  <->" not in blocked.stdout


def test_uint8_nhwc_model_through_pre_commit(
    repo: Path, hook_repo: tuple[Path, str], hook_env: dict[str, str]
) -> None:
    sscd_like_model(repo / "models" / "sscd.onnx", uint8_nhwc=True)
    (repo / ".dupgate.yaml").write_text(SSCD_CONFIG)
    hook = Hook(hook_repo, hook_env, repo, hook_id="dupgate-onnx")
    save(picture(900, (300, 200)), repo / "a.png")
    save(picture(901, (200, 300)), repo / "b.png")
    git(repo, "add", ".")
    assert hook_exit(hook.run("--files", "a.png", "b.png")) == 3
    git(repo, "add", ".dupgate")
    save(picture(900, (300, 200)).resize((450, 300)), repo / "a-large.jpg", quality=80)
    git(repo, "add", "a-large.jpg")
    blocked = hook.run("--files", "a-large.jpg")
    assert hook_exit(blocked) == 1 and "a-large.jpg  <->  a.png" in blocked.stdout, blocked.stdout


def test_switching_to_short_side_gives_the_rebuild_command(
    sscd_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = sscd_repo
    (repo / ".dupgate.yaml").write_text(SSCD_CONFIG.replace("resize: short_side\n", "resize: crop\n"))
    save(picture(950), repo / "a.png")
    stage_and_record(repo)
    [old_space] = space_folders(repo)
    (repo / ".dupgate.yaml").write_text(SSCD_CONFIG)  # the preprocessing changes, the model does not
    save(picture(951), repo / "new.png")
    git(repo, "add", "-A")
    capsys.readouterr()
    assert main(["check", "new.png"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and old_space in err and "rebuild with `dupgate update`" in err
    assert main(["update"]) == 0
    assert len(space_folders(repo)) == 2
