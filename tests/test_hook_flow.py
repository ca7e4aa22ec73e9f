"""The product path for real: git repositories, commits, and the hook run by pre-commit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from conftest import Hook, git, hook_exit, picture, run, save


def manifest_files(repo: Path) -> list[str]:
    return sorted(str(p.relative_to(repo)) for p in (repo / ".dupgate").rglob("*") if p.is_file())


def dupgate(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "dupgate_hook", *args], repo, check=False)


def test_commit_flow_with_installed_hook(hook: Hook, repo: Path) -> None:
    hook.install()
    git(repo, "add", ".pre-commit-config.yaml")
    for i in range(3):
        save(picture(i), repo / "img" / f"photo{i}.png")
    git(repo, "add", "img")
    first = hook.commit("add photos")
    assert first.returncode != 0, first.stdout
    assert " add .dupgate/vectors/" in first.stdout
    assert "exit code: 3" in first.stdout
    assert git(repo, "log", "--oneline", check=False).returncode != 0  # nothing committed yet
    git(repo, "add", ".dupgate")
    second = hook.commit("add photos")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Passed" in second.stdout
    # A resized, re-compressed JPEG copy of a tracked photo is blocked.
    big = picture(0)
    save(big.resize((160, 120)), repo / "img" / "photo0-small.jpg", quality=85)
    git(repo, "add", "img/photo0-small.jpg")
    blocked = hook.commit("add small copy")
    assert blocked.returncode != 0
    out = blocked.stdout
    assert "img/photo0-small.jpg" in out and "img/photo0.png" in out
    assert "threshold" in out and "dupgate allow" in out and "SKIP=dupgate" in out
    assert "exit code: 1" in out
    # The blocked image's vector is not in the manifest, but it is cached for the retry.
    assert git(repo, "status", "--porcelain", ".dupgate").stdout == ""


def test_distinct_then_complete(hook: Hook, repo: Path) -> None:
    for i in range(4):
        save(picture(10 + i), repo / f"p{i}.jpg", quality=90)
    git(repo, "add", ".")
    first = hook.try_repo("--files", *[f"p{i}.jpg" for i in range(4)])
    assert "exit code: 3" in first.stdout, first.stdout
    assert "embedding" not in first.stderr  # no progress bar without a terminal
    git(repo, "add", ".dupgate")
    again = hook.run("--files", *[f"p{i}.jpg" for i in range(4)])
    assert hook_exit(again) == 0, again.stdout
    packs = [p for p in manifest_files(repo) if p.endswith(".npz")]
    assert len(packs) == 1


def commit_images(hook: Hook, repo: Path, paths: list[str]) -> None:
    """Stage `paths`, run the hook until the manifest is complete, and commit."""
    git(repo, "add", *paths)
    first = hook.run("--files", *paths)
    assert hook_exit(first) in (0, 3), first.stdout
    git(repo, "add", ".dupgate")
    assert hook_exit(hook.run("--files", *paths)) == 0
    git(repo, "commit", "-qm", "images", "--no-verify")


def test_near_duplicate_among_staged_only(hook: Hook, repo: Path) -> None:
    img = picture(21)
    save(img, repo / "a.png")
    save(img.convert("RGB"), repo / "b.webp", quality=80)
    save(picture(22), repo / "c.png")
    git(repo, "add", ".")
    result = hook.run("--files", "a.png", "b.webp", "c.png")
    assert hook_exit(result) == 1, result.stdout
    assert "a.png  <->  b.webp" in result.stdout
    assert "c.png" not in result.stdout.split("found")[1].split("If a pair")[0]
    assert not (repo / ".dupgate").exists()  # nothing written for a blocked commit


def test_exact_copy_reports_score_one(hook: Hook, repo: Path) -> None:
    save(picture(31), repo / "orig.png")
    commit_images(hook, repo, ["orig.png"])
    (repo / "dup").mkdir()
    (repo / "dup" / "same.png").write_bytes((repo / "orig.png").read_bytes())
    git(repo, "add", "dup/same.png")
    result = hook.try_repo("--files", "dup/same.png")
    assert hook_exit(result) == 1
    assert "1.000  dup/same.png  <->  orig.png  (exact duplicate" in result.stdout


def test_rename_embeds_nothing_and_passes(hook: Hook, repo: Path) -> None:
    save(picture(41), repo / "old.png")
    commit_images(hook, repo, ["old.png"])
    cache = repo / ".git" / "dupgate" / "cache"
    before = sorted(p.name for p in cache.rglob("*.npz"))
    (repo / "renamed").mkdir()
    git(repo, "mv", "old.png", "renamed/new.png")
    result = hook.run("--files", "renamed/new.png")
    assert hook_exit(result) == 0, result.stdout
    assert sorted(p.name for p in cache.rglob("*.npz")) == before  # nothing embedded


def test_deleted_image_is_never_a_match(hook: Hook, repo: Path) -> None:
    img = picture(51)
    save(img, repo / "gone.png")
    save(picture(52), repo / "other.png")
    commit_images(hook, repo, ["gone.png", "other.png"])
    git(repo, "rm", "-q", "gone.png")
    save(img.resize((200, 150)), repo / "copy-of-gone.jpg", quality=70)
    git(repo, "add", "copy-of-gone.jpg")
    result = hook.run("--files", "copy-of-gone.jpg")
    assert "gone.png" not in result.stdout.replace("copy-of-gone", "")
    assert "exit code: 3" in result.stdout, result.stdout


def test_allowed_pair_passes_and_survives_rename(hook: Hook, repo: Path) -> None:
    img = picture(61)
    save(img, repo / "hero.png")
    commit_images(hook, repo, ["hero.png"])
    save(img.resize((640, 480)), repo / "hero@2x.png")
    git(repo, "add", "hero@2x.png")
    assert hook_exit(hook.run("--files", "hero@2x.png")) == 1
    allowed = dupgate(repo, "allow", "hero.png", "hero@2x.png", "--reason", "retina variant")
    assert allowed.returncode == 0, allowed.stderr
    git(repo, "add", ".dupgate")
    result = hook.run("--files", "hero@2x.png")
    assert "exit code: 3" in result.stdout, result.stdout  # clean; new vector to stage
    git(repo, "add", ".dupgate")
    git(repo, "commit", "-qm", "retina", "--no-verify")
    (repo / "assets").mkdir()
    git(repo, "mv", "hero@2x.png", "assets/hero-retina.png")
    assert hook_exit(hook.run("--files", "assets/hero-retina.png")) == 0


def test_all_files_audit_shows_clusters(hook: Hook, repo: Path) -> None:
    for i in range(3):
        img = picture(70 + i)
        save(img, repo / f"orig{i}.png")
    base = picture(70)
    save(base.resize((160, 120)), repo / "orig0-small.jpg", quality=85)
    save(base.resize((400, 300)), repo / "orig0-large.png")
    git(repo, "add", ".")
    result = hook.run("--all-files")
    assert hook_exit(result) == 1
    assert result.stdout.count("orig0") >= 3 and "orig1.png" not in result.stdout.split("found")[1]
    audit = dupgate(repo, "audit", "--format", "json")
    assert audit.returncode == 1
    report = json.loads(audit.stdout)
    assert report["clusters"] == [["orig0-large.png", "orig0-small.jpg", "orig0.png"]]
    assert {p["a"] for p in report["pairs"]} <= {"orig0-large.png", "orig0-small.jpg", "orig0.png"}
    assert len(report["images"]) == 5


def test_two_branches_merge_without_conflict(hook: Hook, repo: Path) -> None:
    save(picture(80), repo / "base.png")
    commit_images(hook, repo, ["base.png"])
    git(repo, "checkout", "-qb", "feature")
    save(picture(81), repo / "feature.png")
    commit_images(hook, repo, ["feature.png"])
    git(repo, "checkout", "-q", "main")
    save(picture(82), repo / "main.png")
    commit_images(hook, repo, ["main.png"])
    merge = git(repo, "merge", "--no-edit", "feature", check=False)
    assert merge.returncode == 0, merge.stdout + merge.stderr
    assert "CONFLICT" not in merge.stdout
    check = dupgate(repo, "check", "base.png", "feature.png", "main.png")
    assert check.returncode == 0, check.stdout + check.stderr


def test_edit_gives_new_vector(hook: Hook, repo: Path) -> None:
    save(picture(90), repo / "banner.png")
    commit_images(hook, repo, ["banner.png"])
    edited = Image.open(repo / "banner.png").convert("RGB")
    ImageDraw.Draw(edited).rectangle((0, 0, 80, 60), fill=(255, 0, 0))
    edited.save(repo / "banner.png")
    git(repo, "add", "banner.png")
    result = hook.run("--files", "banner.png")
    assert "exit code: 3" in result.stdout, result.stdout  # its new vector must be staged
