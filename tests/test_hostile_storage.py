"""Faults while the manifest is written: a SIGKILL, a full disk, a read-only repository.

Each test fails if a killed, full or read-only run leaves a broken manifest, loses vectors
already there, or ends in anything but one line naming what went wrong.
"""

from __future__ import annotations

import builtins
import errno
import os
import random
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PROJECT, git, picture, save, stage_and_record
from dupgate_hook.backends.base import BackendSettings, space_id
from dupgate_hook.backends.local import LocalBackend
from dupgate_hook.main import main
from dupgate_hook.manifest import MANIFEST_DIR, PackStore


def manifest_folders(repo: Path) -> list[Path]:
    vectors = repo / MANIFEST_DIR / "vectors"
    return sorted(p for p in vectors.iterdir() if p.is_dir()) if vectors.is_dir() else []


def assert_manifest_loads(repo: Path) -> int:
    """Every pack in the manifest reads cleanly and has both files; returns the key count."""
    total = 0
    for folder in manifest_folders(repo):
        store = PackStore(str(folder), folder.name, int(folder.name.rsplit("-", 1)[1]), folder.name)
        for pack_id in store.pack_ids():
            keys, vectors = store.read_pack(pack_id)
            total += len(keys)
        jsons = {p.stem for p in folder.glob("*.json")}
        npzs = {p.stem for p in folder.glob("*.npz")}
        assert npzs == jsons, f"vectors without JSON (or the reverse) in {folder}"
    return total


def temp_files(root: Path) -> list[Path]:
    return sorted(root.rglob(".tmp-*")) if root.exists() else []


def last_line(err: str) -> str:
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


# --- 6. SIGKILL while the manifest is being written -------------------------------------------

WRITER = """
import os, sys, random, time, numpy as np
from dupgate_hook import manifest
from dupgate_hook.manifest import PackStore
store = PackStore(sys.argv[1], "local-test-64", 64, "test")
rng = random.Random(int(sys.argv[2]))
hold = sys.argv[3] == "hold"
previous = store.pack_ids()
real_replace = os.replace

def replace(src, dst):  # with "hold": stop with a temp file written but not yet in place
    if hold and previous:
        print("holding", flush=True)
        time.sleep(60)
    real_replace(src, dst)

manifest.os.replace = replace
while True:
    keys = ["%040x" % rng.getrandbits(160) for _ in range(rng.randint(1, 3000))]
    new = store.write_pack(keys, np.ones((len(keys), 64), np.float32))
    for old in previous:  # what write_pending does: fold the pending packs into the new one
        if old != new:
            store.remove_pack(old)
    previous = [new]
    print("packed", flush=True)  # the handshake: at least one pack is complete
"""


def kill_writer(folder: Path, script: Path, trial: int, wait_for: bytes, delay: float) -> None:
    """Start the writer, wait until it says `wait_for`, then SIGKILL it `delay` seconds later."""
    hold = "hold" if wait_for == b"holding\n" else "run"
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    cmd = [sys.executable, str(script), str(folder), str(trial), hold]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    while (line := proc.stdout.readline()) != wait_for:
        assert line, "the writer ended before reaching the point to kill it at"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()


def test_sigkill_while_writing_packs_never_leaves_a_broken_one(tmp_path: Path) -> None:
    folder = tmp_path / "vectors" / "local-test-64"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(5)
    strays = 0
    for trial in range(9):
        # eight kills at random moments after a pack is complete, the last one mid-write
        wait_for = b"holding\n" if trial == 8 else b"packed\n"
        kill_writer(folder, script, trial, wait_for, rng.uniform(0.0, 0.3) if trial < 8 else 0.0)
        store = PackStore(str(folder), "local-test-64", 64, "test")
        ids = store.pack_ids()
        assert ids, "no complete pack after the writer said it finished one"
        for pack_id in ids:
            keys, vectors = store.read_pack(pack_id)
            assert vectors.shape == (len(keys), 64)
        left = len(temp_files(folder)) - strays
        assert 0 <= left <= 1, f"one kill left {left} temp files (one write is in flight at a time)"
        strays += left
    # the mid-write kill left its temp file, and the packs above read cleanly around it
    assert left == 1 and strays >= 1


HOLDING_CHECK = """
import sys, time
from dupgate_hook import manifest
from dupgate_hook.main import main
real_write = manifest.atomic_write
after = sys.argv[1] == "after"

def atomic_write(path, write, label):  # stop at the first vectors file of the manifest
    if "/.dupgate/" in path and path.endswith(".npz"):
        def held(f):
            if after:
                write(f)
            print("holding", flush=True)
            time.sleep(60)
        real_write(path, held, label)
    real_write(path, write, label)

manifest.atomic_write = atomic_write
sys.exit(main(["check"]))
"""


def test_sigkill_during_dupgate_check_leaves_a_loadable_manifest(repo: Path) -> None:
    for i in range(12):
        save(picture(560 + i, (640, 480)), repo / f"p{i}.png")
    git(repo, "add", ".")
    script = repo.parent / "holding_check.py"
    script.write_text(HOLDING_CHECK)
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    for trial in range(4):
        # killed with the manifest's temp file empty, then written but not in place
        where = "after" if trial % 2 else "before"
        proc = subprocess.Popen(
            [sys.executable, str(script), where],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        while (line := proc.stdout.readline()) != b"holding\n":
            assert line, "dupgate check ended before writing the manifest"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert_manifest_loads(repo)
        for cache in (repo / ".git" / "dupgate" / "cache").glob("*-[0-9]*"):  # vector spaces, not verify/
            store = PackStore(str(cache), cache.name, int(cache.name.rsplit("-", 1)[1]), "cache")
            for pack_id in store.pack_ids():
                store.read_pack(pack_id)
    assert temp_files(repo / ".dupgate"), "the kills mid-write left no temp file to sweep"
    space = space_id(LocalBackend(BackendSettings()))  # the default backend's folder
    stray = repo / ".dupgate" / "vectors" / space / ".tmp-left-by-a-kill"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"half a pack")
    assert main(["check"]) in (0, 3)  # the next run picks up where the killed one stopped
    assert temp_files(repo / ".dupgate") == []  # and sweeps what a kill left, before `git add`
    git(repo, "add", "-A")
    assert main(["check"]) == 0
    assert assert_manifest_loads(repo) == 12


# --- 7. no space left on the device -----------------------------------------------------------


def fail_fsync(monkeypatch: pytest.MonkeyPatch, where: str, nth: int) -> list[int]:
    """Make the `nth` fsync of a file whose path contains `where` fail with ENOSPC."""
    real = os.fsync
    calls: list[int] = []

    def fsync(fd: int) -> None:
        if where in os.readlink(f"/proc/self/fd/{fd}"):
            calls.append(fd)
            if len(calls) == nth:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to tell files apart")
@pytest.mark.parametrize("nth", [1, 2], ids=["vectors", "json"])
def test_disk_full_while_writing_the_manifest_is_one_line_and_leaves_it_intact(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], nth: int
) -> None:
    save(picture(570), repo / "old.png")
    stage_and_record(repo)
    before = {p: p.read_bytes() for p in (repo / MANIFEST_DIR).rglob("*") if p.is_file()}
    save(picture(571), repo / "new.png")
    git(repo, "add", "new.png")
    capsys.readouterr()
    with monkeypatch.context() as disk_full:
        calls = fail_fsync(disk_full, f"/{MANIFEST_DIR}/", nth)
        assert main(["check"]) == 2
        assert len(calls) == nth
    line = last_line(capsys.readouterr().err)
    assert line.startswith("dupgate: error: .dupgate/vectors/") and "No space left on device" in line
    after = {p: p.read_bytes() for p in (repo / MANIFEST_DIR).rglob("*") if p.is_file()}
    assert after == before  # no temp file, no vectors without JSON, old packs untouched
    assert assert_manifest_loads(repo) == 1
    assert main(["check"]) == 3  # once there is space again, the vectors come from the cache


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to tell files apart")
def test_disk_full_in_the_cache_only_warns(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    save(picture(572), repo / "a.png")
    git(repo, "add", ".")
    fail_fsync(monkeypatch, "/dupgate/cache/", 1)
    assert main(["check"]) == 3
    assert "warning: vectors not cached" in capsys.readouterr().err
    assert temp_files(repo / ".git" / "dupgate") == []
    assert_manifest_loads(repo)


# --- 8. a read-only repository ----------------------------------------------------------------


@pytest.fixture
def read_only(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the repository (work tree and .git) unwritable for dupgate.

    As root, permission bits do not stop writes, so every way dupgate creates, replaces or
    removes a file under the repository is made to fail with EACCES instead.
    """
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [repo, *repo.rglob("*")] if not p.is_symlink()}
        for p in modes:
            p.chmod(modes[p] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        yield
        for p, mode in modes.items():
            p.chmod(mode)
        return
    root = str(repo)

    def inside(path: object) -> bool:
        return os.path.abspath(os.fsdecode(path)).startswith(root)  # type: ignore[arg-type]

    def deny(path: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))  # type: ignore[arg-type]

    real_open, real_builtin_open = os.open, builtins.open
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def os_open(path: str, flags: int, *args: object, **kwargs: object) -> int:
        if flags & writes and inside(path):
            deny(path)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    def open_(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if isinstance(file, (str, bytes, os.PathLike)) and set(mode) & set("wax+") and inside(file):
            deny(file)
        return real_builtin_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]

    def guard(real: object) -> object:
        def wrapper(path: object, *args: object, **kwargs: object) -> object:
            if inside(path):
                deny(path)
            return real(path, *args, **kwargs)  # type: ignore[operator]

        return wrapper

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)
    for name in ("makedirs", "mkdir", "unlink", "remove", "rmdir"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))
    for name in ("replace", "rename"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))
    yield


def test_read_only_repo_with_a_complete_manifest_passes(
    repo: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(3):
        save(picture(580 + i), repo / f"p{i}.png")
    stage_and_record(repo)
    save(picture(580), repo / "p0-again.png")  # an exact copy whose vector is known
    git(repo, "rm", "-q", "--cached", "p0.png")
    os.unlink(repo / "p0.png")
    git(repo, "add", "p0-again.png")
    request.getfixturevalue("read_only")
    capsys.readouterr()
    assert main(["check", "p0-again.png"]) == 0, capsys.readouterr().err
    assert main(["check"]) == 0
    assert main(["audit"]) == 0


def test_read_only_repo_that_needs_a_write_is_one_line_and_exit_2(
    repo: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    save(picture(590), repo / "old.png")
    stage_and_record(repo)
    save(picture(591), repo / "new.png")
    git(repo, "add", "new.png")
    request.getfixturevalue("read_only")
    capsys.readouterr()
    assert main(["check"]) == 2
    line = last_line(capsys.readouterr().err)
    assert line.startswith("dupgate: error: .dupgate/vectors/"), line
    assert "ermission denied" in line
