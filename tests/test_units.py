"""Direct unit tests of compare, allowlist, paths and store: small inputs, no pre-commit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import PROJECT, git
from dupgate_hook.allowlist import Acceptance, AllowList, load_allowlist, write_allow_file
from dupgate_hook.backends.base import BackendSettings
from dupgate_hook.compare import Pair, clusters, find_pairs, pairs_from_scores
from dupgate_hook.config import AllowRule, Config, parse_config
from dupgate_hook.errors import DupgateError
from dupgate_hook.images import IMAGE_SUFFIXES
from dupgate_hook.manifest import VectorTable
from dupgate_hook.paths import (
    content_key,
    find_repo,
    selected,
    staged_changes,
    to_repo_path,
    tracked_images,
    walk_images,
)
from dupgate_hook.store import cache_root, open_stores, recorded_keys, write_pending

# --- compare ----------------------------------------------------------------------------------

K1, K2, K3 = "1" * 40, "2" * 40, "3" * 40


def dot(rows: np.ndarray, columns: np.ndarray, floor: float | None) -> np.ndarray:
    """A toy similarity: the dot product (the real ones share its shape and meaning)."""
    return np.asarray(rows, np.float32) @ np.asarray(columns, np.float32).T


def toy_table() -> VectorTable:
    table = VectorTable(2)
    table.add([K1, K2, K3], np.array([[1.0, 0.0], [0.96, 0.28], [0.0, 1.0]], np.float32))
    return table


TOY_KEYS = {"a.png": K1, "b.png": K2, "c.png": K3, "d.png": K1}  # d.png: a.png's bytes


def summary(pairs: list[Pair]) -> list[tuple[str, str, float, bool]]:
    return [(p.a, p.b, round(p.score, 2), p.exact) for p in pairs]


def test_pairs_from_scores_expands_keys_to_paths_caps_scores_and_adds_exact_copies() -> None:
    keys = {"x.png": K1, "y.png": K2, "z.png": K1}
    pairs = pairs_from_scores(keys, [(K1, K2, 1.2)], AllowList())
    assert summary(pairs) == [
        ("x.png", "y.png", 1.0, False),
        ("x.png", "z.png", 1.0, True),
        ("y.png", "z.png", 1.0, False),
    ]


def test_pairs_from_scores_looks_up_acceptance_by_content_key() -> None:
    allow = AllowList()
    allow.add(K2, K1, Acceptance("same photo", baseline=True))
    (pair,) = pairs_from_scores({"x.png": K1, "y.png": K2}, [(K1, K2, 0.9)], allow)
    assert pair.acceptance == Acceptance("same photo", baseline=True)


def test_find_pairs_for_a_probe_finds_its_matches_and_nothing_else() -> None:
    pairs = find_pairs(["b.png"], TOY_KEYS, toy_table(), dot, 0.9, AllowList())
    assert summary(pairs) == [("a.png", "b.png", 0.96, False), ("b.png", "d.png", 0.96, False)]


def test_find_pairs_as_an_audit_finds_every_pair_once_best_first() -> None:
    pairs = find_pairs(list(TOY_KEYS), TOY_KEYS, toy_table(), dot, 0.9, AllowList())
    assert summary(pairs) == [
        ("a.png", "d.png", 1.0, True),
        ("a.png", "b.png", 0.96, False),
        ("b.png", "d.png", 0.96, False),
    ]


def test_find_pairs_at_threshold_zero_lists_every_pair() -> None:
    pairs = find_pairs(list(TOY_KEYS), TOY_KEYS, toy_table(), dot, 0.0, AllowList())
    assert len(pairs) == 4 * 3 // 2
    assert ("a.png", "c.png", 0.0, False) in summary(pairs)


def test_find_pairs_ignores_probes_without_a_key() -> None:
    assert find_pairs(["new.png"], TOY_KEYS, toy_table(), dot, 0.5, AllowList()) == []


def test_clusters_are_connected_groups_largest_first() -> None:
    pairs = [Pair("c", "d", 0.9, False), Pair("a", "b", 0.9, False), Pair("e", "b", 0.9, False)]
    assert clusters(pairs) == [["a", "b", "e"], ["c", "d"]]
    assert clusters([]) == []


# --- allowlist --------------------------------------------------------------------------------


def test_allowed_keys_match_in_either_order_and_the_first_entry_wins() -> None:
    allow = AllowList()
    allow.add(K1, K2, Acceptance("first", baseline=False))
    allow.add(K2, K1, Acceptance("second", baseline=False))
    assert allow.lookup("p", K2, "q", K1) == Acceptance("first", baseline=False)
    assert allow.lookup("p", K1, "q", K3) is None


def test_allow_rules_match_path_globs_in_either_order() -> None:
    allow = AllowList((AllowRule("img/*.png", "thumbs/*.jpg", "thumbnails"),))
    assert allow.lookup("thumbs/a.jpg", K1, "img/a.png", K2) == Acceptance("thumbnails", baseline=False)
    assert allow.lookup("img/a.png", K1, "img/b.png", K2) is None


def test_allow_files_round_trip_and_rewriting_one_is_harmless(tmp_path: Path) -> None:
    pairs = [{"a": K1, "b": K2, "reason": "baseline"}]
    first = write_allow_file(str(tmp_path), pairs, baseline=True, stem="baseline")
    assert write_allow_file(str(tmp_path), pairs, baseline=True, stem="baseline") == first
    assert len(list((tmp_path / ".dupgate" / "allow").iterdir())) == 1
    allow = load_allowlist(str(tmp_path), ())
    assert allow.lookup("x", K2, "y", K1) == Acceptance("baseline", baseline=True)
    assert load_allowlist(None, ()).by_keys == {}


BAD_ALLOW_FILES = [
    '{"schema": 2, "pairs": []}',
    '{"schema": 1, "pairs": [3]}',
    '{"schema": 1, "pairs": [{"a": 1}]}',
]


@pytest.mark.parametrize("text", BAD_ALLOW_FILES)
def test_a_malformed_allow_file_is_an_error_naming_it(tmp_path: Path, text: str) -> None:
    folder = tmp_path / ".dupgate" / "allow"
    folder.mkdir(parents=True)
    (folder / "bad.json").write_text(text)
    with pytest.raises(DupgateError, match=r"\.dupgate/allow/bad\.json"):
        load_allowlist(str(tmp_path), ())


# --- paths ------------------------------------------------------------------------------------


def test_content_key_is_the_git_blob_id(tmp_path: Path) -> None:
    data = b"not really a png\n"
    blob = (
        subprocess.run(
            ["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True, cwd=tmp_path
        )
        .stdout.decode()
        .strip()
    )
    assert content_key(data) == blob
    assert len(content_key(data, "sha256")) == 64


def test_selected_applies_include_then_exclude_and_star_crosses_folders() -> None:
    assert selected("a/b/c.png", (), ())
    assert selected("a/b/c.png", ("a/*",), ())
    assert not selected("x/c.png", ("a/*",), ())
    assert not selected("a/b/c.png", (), ("*/b/*",))


def test_walk_images_skips_hidden_folders_and_other_files(tmp_path: Path) -> None:
    for name in ("a.png", "sub/b.JPG", ".hidden/c.png", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = walk_images([str(tmp_path)])
    assert [os.path.relpath(p, tmp_path) for p in found] == ["a.png", os.path.join("sub", "b.JPG")]
    with pytest.raises(DupgateError, match="no such file or directory"):
        walk_images([str(tmp_path / "missing.png")])


def test_tracked_images_skip_links_and_the_manifest_and_key_by_blob(repo: Path) -> None:
    (repo / "a.png").write_bytes(b"a")
    (repo / ".dupgate").mkdir()
    (repo / ".dupgate" / "x.png").write_bytes(b"x")
    (repo / "notes.txt").write_bytes(b"t")
    os.symlink("a.png", repo / "link.png")
    git(repo, "add", ".")
    found = find_repo(str(repo))
    assert found is not None
    assert tracked_images(found) == {"a.png": content_key(b"a")}
    (repo / "a.png").write_bytes(b"edited")  # unstaged edit: no key (read from disk) ...
    assert tracked_images(found) == {"a.png": ""}
    assert tracked_images(found, staged=True) == {"a.png": content_key(b"a")}  # ... unless staged


def test_staged_changes_tell_a_rename_from_an_addition(repo: Path) -> None:
    found = find_repo(str(repo))
    assert found is not None
    (repo / "a.png").write_bytes(b"a")
    git(repo, "add", ".")
    assert staged_changes(found) is None  # before the first commit everything is new
    git(repo, "commit", "-qm", "one")
    git(repo, "mv", "a.png", "b.png")
    (repo / "c.png").write_bytes(b"a")  # a copy of content that stays where it was: added
    git(repo, "add", ".")
    changes = staged_changes(found)
    assert changes is not None and changes.moved == {"b.png"} and changes.added == {"c.png"}


def test_to_repo_path_refuses_paths_outside(repo: Path) -> None:
    found = find_repo(str(repo))
    assert found is not None
    assert to_repo_path(found, str(repo / "d" / "a.png")) == "d/a.png"
    with pytest.raises(DupgateError, match="outside the repository"):
        to_repo_path(found, str(repo.parent / "a.png"))


# --- store ------------------------------------------------------------------------------------


def test_the_cache_lives_in_the_git_dir_or_the_user_cache(repo: Path, tmp_path: Path) -> None:
    found = find_repo(str(repo))
    assert found is not None
    assert cache_root(found) == os.path.join(found.git_dir, "dupgate", "cache")
    assert cache_root(None) == os.path.join(str(tmp_path / "xdg-cache"), "dupgate")  # the fixture's
    stores = open_stores(None, "local-x-2", 2)
    assert stores.manifest is None and stores.cache.folder.endswith(os.path.join("dupgate", "local-x-2"))


def test_write_pending_folds_pending_packs_into_one_and_skips_recorded_keys(repo: Path) -> None:
    found = find_repo(str(repo))
    assert found is not None
    stores = open_stores(found, "local-x-2", 2)
    manifest = stores.manifest
    assert manifest is not None
    table = toy_table()
    first = write_pending(found, manifest, table, [K1], set())
    assert first[0].startswith(".dupgate/vectors/local-x-2/") and len(manifest.pack_ids()) == 1
    assert write_pending(found, manifest, table, [K1], set()) == first  # nothing new: same files
    both = write_pending(found, manifest, table, [K1, K2], set())
    assert both != first and len(manifest.pack_ids()) == 1  # one pending pack, not two
    git(repo, "add", *both)
    assert recorded_keys(found, manifest) == {K1, K2}
    assert write_pending(found, manifest, table, [K1, K2], {K1, K2}) == []


# --- .pre-commit-hooks.yaml -------------------------------------------------------------------


def pattern_suffixes(pattern: str) -> set[str]:
    """The suffixes a `(?i)\\.(png|jpe?g|...)$` pattern names, `x?` expanded."""
    found = re.fullmatch(r"\(\?i\)\\\.\((.*)\)\$", pattern)
    assert found, f"not a suffix pattern: {pattern}"
    out: set[str] = set()
    for alt in found.group(1).split("|"):
        optional = re.fullmatch(r"(\w*)(\w)\?(\w*)", alt)
        if optional:
            head, letter, tail = optional.groups()
            out |= {f".{head}{tail}", f".{head}{letter}{tail}"}
        else:
            out.add(f".{alt}")
    return out


def test_every_hook_files_pattern_names_exactly_the_image_suffixes() -> None:
    hooks = yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    patterns = {h["id"]: h["files"] for h in hooks if "files" in h}
    assert patterns, "no hook has a files: pattern"
    own = yaml.safe_load((PROJECT / ".pre-commit-config.yaml").read_text())  # the project's own hook
    patterns["own dupgate"] = next(
        h["files"] for r in own["repos"] for h in r["hooks"] if h["id"] == "dupgate"
    )
    for hook_id, pattern in patterns.items():
        assert pattern_suffixes(pattern) == set(IMAGE_SUFFIXES), hook_id
        for suffix in IMAGE_SUFFIXES:
            assert re.search(pattern, f"img/a{suffix.upper()}"), (hook_id, suffix)
        assert not re.search(pattern, "img/a.svg") and not re.search(pattern, "img/png")


def test_the_hook_manifest_and_the_projects_own_config_are_valid_for_pre_commit() -> None:
    """pre-commit's own validators: a YAML slip in either file breaks every user, or the project."""
    for command, name in (
        ("validate-manifest", ".pre-commit-hooks.yaml"),
        ("validate-config", ".pre-commit-config.yaml"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "pre_commit", command, name], cwd=PROJECT, capture_output=True, text=True
        )
        assert proc.returncode == 0, (name, proc.stdout + proc.stderr)


# --- config: every key lands in its field; absent keys keep the dataclasses' defaults ---


def test_absent_keys_keep_the_dataclass_defaults() -> None:
    assert parse_config("") == Config()
    assert parse_config("threshold: 0.8\n") == Config(threshold=0.8)
    assert parse_config("timeout_seconds: 5\n").backend == BackendSettings(timeout_seconds=5)


def test_every_config_key_reaches_its_setting() -> None:
    text = textwrap.dedent(
        """\
        backend: onnx
        model_path: m.onnx
        input_size: [200, 300]
        mean: [1, 2, 3]
        std: [4, 5, 6]
        channel_order: bgr
        resize: stretch
        output_name: out
        base_url: http://localhost:1
        timeout_seconds: 7
        max_retries: 2
        threshold: 0.7
        include: ["a/*.png"]
        exclude: ["b/*"]
        on_error: warn
        max_image_pixels: 1000
        html_report: true
        allow: [{a: "x/*", b: "y/*", reason: thumbnails}]
        """
    )
    config = parse_config(text)
    b = config.backend
    assert (b.name, b.model_path, b.input_size, b.channel_order, b.resize, b.output_name) == (
        "onnx",
        "m.onnx",
        (200, 300),
        "bgr",
        "stretch",
        "out",
    )
    assert (b.mean, b.std, b.base_url, b.timeout_seconds, b.max_retries) == (
        (1, 2, 3),
        (4, 5, 6),
        "http://localhost:1",
        7,
        2,
    )
    assert (config.threshold, config.include, config.exclude, config.on_error) == (
        0.7,
        ("a/*.png",),
        ("b/*",),
        "warn",
    )
    assert (config.max_image_pixels, config.html_report) == (1000, True)
    assert config.allow == (AllowRule("x/*", "y/*", "thumbnails"),)
    assert parse_config("model: m\ndimensions: 768\n").backend == BackendSettings(model="m", dimensions=768)
