"""The commands called in-process on real git repositories: init, allow, prune, audit, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import git, picture, save, stage_and_record
from dupgate_hook.main import main


def test_check_outside_git_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check", "a.png"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "git repository" in err


def test_audit_plain_folder_outside_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "pics"
    for i in range(4):
        save(picture(100 + i), folder / f"p{i}.png")
    save(picture(100).resize((200, 150)), folder / "sub" / "p0-copy.jpg", quality=70)
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "pics", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["clusters"] == [["pics/p0.png", "pics/sub/p0-copy.jpg"]]
    assert set(report) >= {"backend", "model", "threshold", "images", "pairs", "clusters", "errors"}
    assert main(["audit", "pics", "--format", "json", "--threshold", "0"]) == 1
    everything = json.loads(capsys.readouterr().out)
    assert len(everything["pairs"]) == 5 * 4 // 2  # --threshold 0 lists every pair
    assert all(0.0 <= p["score"] <= 1.0 for p in everything["pairs"])


def test_init_records_baseline_so_only_new_duplicates_block(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = picture(110)
    save(old, repo / "old.png")
    save(
        old.resize((160, 120)), repo / "old-thumb.jpg", quality=85
    )  # q60 of this noise-like picture is not proved
    save(picture(111), repo / "other.png")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "before dupgate")
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    assert "1 existing near-duplicate pair(s) recorded as the baseline" in out
    git(repo, "add", ".dupgate")
    assert main(["check", "old.png", "old-thumb.jpg", "other.png"]) == 0
    assert main(["audit"]) == 0  # baseline pairs are accepted
    save(picture(111).resize((300, 225)), repo / "other-copy.png")
    git(repo, "add", "other-copy.png")
    assert main(["check", "other-copy.png"]) == 1


def test_prune_drops_vectors_of_deleted_images(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        save(picture(120 + i), repo / f"p{i}.png")
    stage_and_record(repo)
    save(picture(123), repo / "p3.png")
    stage_and_record(repo)
    git(repo, "rm", "-q", "p0.png")
    capsys.readouterr()
    assert main(["prune"]) == 0
    out = capsys.readouterr().out
    assert "3 vectors kept, 1 dropped, 2 pack(s) compacted" in out
    git(repo, "add", "-A", ".dupgate")
    assert main(["check"]) == 0
    assert len(list((repo / ".dupgate").rglob("*.npz"))) == 1


def test_other_models_are_never_compared(repo: Path) -> None:
    save(picture(130), repo / "a.png")
    stage_and_record(repo)
    space = next((repo / ".dupgate" / "vectors").iterdir())
    foreign = space.parent / "other-model-7"
    foreign.mkdir()
    (foreign / "0123456789abcdef.json").write_text("not even json")
    save(picture(131), repo / "b.png")
    git(repo, "add", "b.png")
    assert main(["check", "b.png"]) == 3  # the foreign folder is not read at all


def test_config_errors_name_the_key(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save(picture(140), repo / "a.png")
    git(repo, "add", "a.png")
    cases = {
        "thresold: 0.8\n": "unknown key 'thresold'",
        "threshold: high\n": "threshold must be a number",
        "threshold: 1.5\n": "threshold must be between 0 and 1",
        "backend: clip\n": "backend must be one of local, gemini",
        "on_error: ignore\n": "on_error must be one of block, warn",
        "allow: [{a: x.png}]\n": "allow[0] lacks 'b'",
        "exclude: 3\n": "exclude must be a list of glob strings",
        "threshold: !!python/object/apply:os.system ['touch pwned']\n": ".dupgate.yaml:",
        "- just\n- a list\n": "must be a mapping",
        "threshold: [\n": ".dupgate.yaml:",
    }
    for text, expected in cases.items():
        (repo / ".dupgate.yaml").write_text(text)
        assert main(["check", "a.png"]) == 2, text
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, (text, err)
        assert "Traceback" not in err
    assert not (repo / "pwned").exists()


def test_cli_flags_override_config(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".dupgate.yaml").write_text("threshold: 0.1\n")
    for i in range(2):
        save(picture(150 + i), repo / f"p{i}.png")
    git(repo, "add", ".")
    main(["audit", "--format", "json"])  # the exit code depends on these random pictures
    low = json.loads(capsys.readouterr().out)
    assert low["threshold"] == 0.1
    assert main(["audit", "--format", "json", "--threshold", "0.99"]) == 0
    assert json.loads(capsys.readouterr().out)["threshold"] == 0.99


def test_allow_globs_from_config(repo: Path) -> None:
    (repo / ".dupgate.yaml").write_text("allow:\n- {a: 'img/*.png', b: 'thumbs/*.jpg', reason: thumbnails}\n")
    img = picture(160)
    save(img, repo / "img" / "a.png")
    save(img.resize((100, 75)), repo / "thumbs" / "a.jpg", quality=70)
    git(repo, "add", ".")
    assert main(["check", "img/a.png", "thumbs/a.jpg"]) == 3


def test_unreadable_image_blocks_or_warns(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save(picture(170), repo / "good.png")
    (repo / "bad.png").write_bytes(b"this is not a png")
    git(repo, "add", ".")
    assert main(["check", "good.png", "bad.png"]) == 2
    err = capsys.readouterr().err
    assert "bad.png: not a recognised image format" in err and "Traceback" not in err
    assert not (repo / ".dupgate").exists()
    (repo / ".dupgate.yaml").write_text("on_error: warn\n")
    assert main(["check", "good.png", "bad.png"]) == 3
    assert "warning: bad.png" in capsys.readouterr().err


def test_concurrent_runs_leave_a_valid_manifest(repo: Path) -> None:
    for i in range(12):
        save(picture(180 + i), repo / f"p{i}.png")
    git(repo, "add", ".")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dupgate_hook", "check"],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    codes = [p.wait(timeout=120) for p in procs]
    assert sorted(codes) == [3, 3, 3]
    packs = list((repo / ".dupgate").rglob("*.json"))
    assert len(packs) == 1
    keys = json.loads(packs[0].read_text())["keys"]
    assert len(keys) == 12
    with np.load(packs[0].with_suffix(".npz"), allow_pickle=False) as npz:
        assert npz["vectors"].shape[0] == 12


def test_exif_rotated_copy_matches_upright(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    upright = picture(190, (300, 200))
    save(upright, repo / "upright.jpg", quality=92)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # pixels turned; tag turns them back
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(repo / "tagged.jpg", quality=92, exif=exif)
    git(repo, "add", ".")
    assert main(["audit", "--format", "json"]) == 1
    pairs = json.loads(capsys.readouterr().out)["pairs"]
    assert [(p["a"], p["b"]) for p in pairs] == [("tagged.jpg", "upright.jpg")]


def test_broken_manifest_names_the_repair_and_the_repair_works(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(2):
        save(picture(200 + i), repo / f"p{i}.png")
    stage_and_record(repo)
    pack_json = next((repo / ".dupgate").rglob("*.json"))
    pack_json.write_text('{"schema": 1, "space": "local", "keys": [1, 2]}')
    capsys.readouterr()
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and pack_json.name[:-5] in err and "dupgate update" in err
    pack_json.unlink()
    pack_json.with_suffix(".npz").unlink()
    assert main(["update"]) == 0
    git(repo, "add", "-A", ".dupgate")
    assert main(["check"]) == 0


def test_first_run_scores_equal_later_runs(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Fresh vectors are scored as the manifest stores them (float16): no verdict flips later."""
    for seed in range(6):
        save(picture(seed), repo / f"p{seed}.png")
        save(picture(seed).resize((150, 110)), repo / f"p{seed}.jpg", quality=70)
    git(repo, "add", "-A")
    assert main(["audit", "--format", "json", "--threshold", "0"]) == 1
    fresh = json.loads(capsys.readouterr().out)["pairs"]
    assert main(["update"]) == 0  # from the cache into the manifest
    capsys.readouterr()
    assert main(["audit", "--format", "json", "--threshold", "0"]) == 1
    stored = json.loads(capsys.readouterr().out)["pairs"]
    assert len(fresh) == 66 and fresh == stored


_MMAP_PROBE = """
import ctypes, sys
import numpy as np
from dupgate_hook.main import _keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    _keep_freed_memory()
    _keep_freed_memory()  # idempotent
before = libc.mallinfo2().hblks
blocks = [np.full((512, 1024), i, np.float32) for i in range(8)]  # 2 MB each
mapped = libc.mallinfo2().hblks - before
del blocks[::2]
assert [int(b[0, 0]) for b in blocks] == [1, 3, 5, 7]  # and arrays still behave
print(mapped)
"""


def mapped_blocks(mode: str) -> int:
    """How many of eight 2 MB arrays glibc served with their own mmap, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(
        [sys.executable, "-c", _MMAP_PROBE, mode], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_keeping_freed_memory_serves_mb_arrays_from_the_heap() -> None:
    """The hook's process tunes glibc's allocator: MB-sized arrays no longer get their own mmap."""
    try:
        import ctypes

        ctypes.CDLL(None).mallinfo2  # noqa: B018 (glibc 2.33+; the probe needs it)
    except (OSError, AttributeError):
        pytest.skip("no glibc mallinfo2 here")
    assert mapped_blocks("plain") == 8  # the probe sees glibc's default: one mmap per array
    assert mapped_blocks("tuned") == 0


def test_a_new_local_model_tells_the_user_to_run_update(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After an upgrade changes the local descriptor, the hook names the change and `dupgate update`."""
    save(picture(132), repo / "a.png")
    stage_and_record(repo)
    space = next((repo / ".dupgate" / "vectors").iterdir())
    space.rename(space.parent / "local-mv0-100")  # what an older dupgate would have left
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "older model", "--no-verify")
    capsys.readouterr()
    save(picture(133), repo / "b.png")
    git(repo, "add", "b.png")
    assert main(["check", "b.png"]) == 3
    out = capsys.readouterr()
    assert "model changed" in out.err and "local-mv0-100 -> " in out.err and "`dupgate update`" in out.err
    assert "(the manifest holds another model's)" in out.out and "SKIP=dupgate" not in out.out
