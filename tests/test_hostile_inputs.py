"""Hostile inputs: odd names, links, vanished files, ICC profiles, huge pictures, fuzzed files.

Each test fails if its behaviour regresses: odd file names are reported as they are, links
are skipped, a vanished file is judged by its staged content, a huge picture stays within a
bounded amount of memory, and what the fuzzer found stays fixed. Faults while writing (a
kill, a full disk, a read-only repository) are in test_hostile_storage.py.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

import fuzz  # benchmarks/fuzz.py (conftest puts benchmarks/ on sys.path)
from conftest import PROJECT, git, picture, save
from dupgate_hook import images
from dupgate_hook.config import parse_config
from dupgate_hook.errors import DupgateError, ImageError
from dupgate_hook.main import main
from dupgate_hook.manifest import PackStore

# --- 1. file names: spaces, unicode, a newline, a leading dash --------------------------------

ODD_NAMES = ["a b.png", "ünï ☃ 写真.png", "new\nline.png", "-x.png", "-h.png"]


def test_odd_file_names_are_checked_and_reported_as_they_are(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i, name in enumerate(ODD_NAMES):
        save(picture(500 + i), repo / name)
    git(repo, "add", "--", ".")
    assert main(["check", "--", *ODD_NAMES]) == 3  # all distinct: vectors written
    git(repo, "add", "--", ".")
    assert main(["check", "--", "-x.png"]) == 0
    assert main(["check"]) == 0  # the staged names, as git lists them
    copy = "copy\nof ünï.jpg"
    save(picture(501).resize((200, 150)), repo / copy, quality=70)  # a copy of "ünï ☃ 写真.png"
    git(repo, "add", "--", copy)
    capsys.readouterr()
    assert main(["check", "--", copy]) == 1
    out = capsys.readouterr().out
    pairs = [line for line in out.splitlines() if "<->" in line]
    assert len(pairs) == 1 and "copy\\nof " in pairs[0] and "  <->  ünï ☃ 写真.png  (" in pairs[0], out
    assert main(["audit", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert {i["path"] for i in report["images"]} == {*ODD_NAMES, copy}
    assert report["clusters"] == [[copy, "ünï ☃ 写真.png"]]
    assert report["errors"] == []
    assert main(["audit"]) == 1
    assert "  <->  ünï ☃ 写真.png" in capsys.readouterr().out


def test_a_name_with_a_newline_keeps_its_other_characters() -> None:
    from dupgate_hook.report import show

    assert show("copy\nof ünï.jpg") == "copy\\nof ünï.jpg"


@pytest.mark.parametrize("name", ["-x.png", "-h.png"])
def test_leading_dash_names_work_without_double_dash(
    repo: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    save(picture(510), repo / name)
    git(repo, "add", "--", name)
    try:
        code = main(["check", name])  # exactly what pre-commit runs
    except SystemExit as exc:  # argparse
        code = 100 + int(exc.code or 0)
    assert code == 3, capsys.readouterr()


# --- 2. symlinks are skipped ------------------------------------------------------------------


def test_symlinks_inside_and_outside_the_repo_are_skipped(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save(picture(520), repo / "img" / "a.png")
    outside = save(picture(521), repo.parent / "outside.png")
    os.symlink("a.png", repo / "img" / "inside-link.png")
    os.symlink(str(outside), repo / "img" / "outside-link.png")
    os.symlink("../../outside.png", repo / "img" / "outside-rel.png")
    os.symlink("nowhere.png", repo / "img" / "dangling.png")
    links = ["img/inside-link.png", "img/outside-link.png", "img/outside-rel.png", "img/dangling.png"]
    git(repo, "add", "--", ".")
    # the link to a.png would be an exact duplicate of it if links were followed
    assert main(["check", "img/a.png", *links]) == 3
    git(repo, "add", "-A")
    assert main(["check", "img/a.png", *links]) == 0
    assert main(["check", *links]) == 0  # nothing but links: nothing to embed
    assert main(["check"]) == 0
    capsys.readouterr()
    assert main(["audit", "--format", "json", "img"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [i["path"] for i in report["images"]] == ["img/a.png"]
    assert report["pairs"] == [] and report["errors"] == []
    assert main(["audit", "--format", "json"]) == 0
    assert [i["path"] for i in json.loads(capsys.readouterr().out)["images"]] == ["img/a.png"]


# --- 3. a path that vanished between staging and the run --------------------------------------


def test_a_staged_file_deleted_before_the_run_is_judged_by_its_staged_content(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The commit holds the staged blob (pre-commit's stash restores it for the hook too)."""
    save(picture(530), repo / "kept.png")
    save(picture(531), repo / "gone one.png")
    git(repo, "add", "--", ".")
    os.unlink(repo / "gone one.png")
    for argv in (["check", "kept.png", "gone one.png"], ["check"]):
        assert main(argv) == 3
        err = capsys.readouterr().err
        assert "Traceback" not in err and "gone one.png" not in err
    assert main(["check", "never-staged.png"]) == 2
    assert "never-staged.png: file not found" in capsys.readouterr().err


# --- 4. an ICC profile ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_an_embedded_icc_profile_decodes_like_its_profile_less_twin(fmt: str) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pic = picture(540)
    with_icc, without = io.BytesIO(), io.BytesIO()
    pic.save(with_icc, fmt, icc_profile=profile)
    pic.save(without, fmt)
    assert Image.open(io.BytesIO(with_icc.getvalue())).info.get("icc_profile")
    a = images.decode("icc." + fmt.lower(), with_icc.getvalue(), 128).image
    b = images.decode("plain." + fmt.lower(), without.getvalue(), 128).image
    assert a.mode == b.mode == "RGB" and a.size == b.size
    assert np.array_equal(np.asarray(a), np.asarray(b))
    broken = io.BytesIO()
    pic.save(broken, "PNG", icc_profile=b"not a profile" * 8)
    assert images.decode("broken-icc.png", broken.getvalue(), 128).image.mode == "RGB"


def test_an_icc_tagged_copy_is_found_as_a_near_duplicate(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    save(picture(541), repo / "plain.png")
    save(picture(541), repo / "tagged.jpg", icc_profile=profile, quality=90)
    git(repo, "add", ".")
    assert main(["check", "plain.png", "tagged.jpg"]) == 1
    assert "plain.png  <->  tagged.jpg" in capsys.readouterr().out


# --- 5. a huge single-colour picture, small on disk -------------------------------------------


def one_colour_png(path: Path, width: int, height: int, rgb: bool) -> Path:
    """A PNG of one colour, streamed row by row so making it costs no memory."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(6)
    row = b"\0" + bytes([180, 200, 220] if rgb else [190]) * width
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if rgb else 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


def check_with_peak_memory(repo: Path, name: str) -> tuple[int, float, str]:
    """Run `dupgate check NAME` in a fresh process; its exit code, peak RSS in MB, stderr."""
    code = textwrap.dedent(
        f"""
        import resource, sys
        from dupgate_hook.main import main
        rc = main(["check", {name!r}])
        print("RESULT", rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    result = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert result, proc.stdout + proc.stderr
    _, rc, kb = result[0].split()
    return int(rc), int(kb) / 1024, proc.stderr


def test_a_400_megapixel_image_is_refused_without_being_decoded(repo: Path) -> None:
    one_colour_png(repo / "huge.png", 20_000, 20_000, rgb=False)
    assert (repo / "huge.png").stat().st_size < 2_000_000
    git(repo, "add", "huge.png")
    rc, peak_mb, err = check_with_peak_memory(repo, "huge.png")
    assert rc == 2 and "Traceback" not in err
    assert err.splitlines()[0].startswith("dupgate: error: huge.png: 20000x20000 pixels is over the limit")
    assert peak_mb < 500, f"peak memory {peak_mb:.0f} MB"


@pytest.mark.slow  # ~5 s: decodes and shrinks 144 million pixels
def test_a_144_megapixel_image_under_a_raised_limit_stays_in_bounded_memory(repo: Path) -> None:
    (repo / ".dupgate.yaml").write_text("max_image_pixels: 200000000\n")
    one_colour_png(repo / "big.png", 12_000, 12_000, rgb=True)
    git(repo, "add", ".")
    rc, peak_mb, err = check_with_peak_memory(repo, "big.png")
    assert rc == 3, err
    # Pillow holds an RGB picture in 4 bytes a pixel (~550 MB here); before the orientation
    # step was moved after shrinking, the picture was copied once more (~1.1 GB).
    assert peak_mb < 800, f"peak memory {peak_mb:.0f} MB"


# --- 10. fuzzing, the CI-sized part of benchmarks/fuzz.py -------------------------------------


def test_fuzz_finding_npz_with_an_unsupported_compression_method(tmp_path: Path) -> None:
    store = PackStore(str(tmp_path), "local-test-4", 4, "test")
    pack_id = store.write_pack(["a" * 40], np.ones((1, 4), np.float32))
    _, npz_path = store.pack_files(pack_id)
    data = bytearray(Path(npz_path).read_bytes())
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # local and central headers: method 99
        at = data.index(header)
        offset = 8 if header == b"PK\x03\x04" else 10
        data[at + offset : at + offset + 2] = struct.pack("<H", 99)
    Path(npz_path).write_bytes(bytes(data))  # zipfile raised NotImplementedError here
    with pytest.raises(DupgateError, match=r"test/[0-9a-f]{16}\.npz: unreadable vectors"):
        store.read_pack(pack_id)


def test_fuzz_finding_gif_with_a_cut_frame_descriptor() -> None:
    rgb = picture(600, (16, 12))
    buf = io.BytesIO()
    rgb.convert("P").save(buf, "GIF", save_all=True, append_images=[rgb.rotate(90).convert("P")], duration=50)
    data = buf.getvalue()
    second = data.index(b"\x21\xf9", data.index(b"\x21\xf9") + 1)  # 2nd frame's control block
    cut = data[: data.index(b",", second + 8) + 6]  # its image descriptor cut to 5 bytes
    with pytest.raises(ImageError, match="corrupt or truncated"):  # was struct.error
        images.decode("cut.gif", cut, 64)


@pytest.mark.slow  # ~7 s: 900 mutated files
def test_fuzz_short_run_finds_nothing_new(tmp_path: Path) -> None:
    counts, findings = fuzz.run(per_target=300, seed=1, workdir=tmp_path)
    assert [c["tried"] for c in counts.values()] == [300, 300, 300]
    assert findings == [], "\n".join(findings[:20])


def test_a_deeply_nested_config_is_a_clear_error() -> None:
    with pytest.raises(DupgateError, match=r"\.dupgate\.yaml"):
        parse_config("include: " + "[" * 1000 + "]" * 1000)
