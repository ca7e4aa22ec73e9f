"""The verification stage: geometry found, structure compared, fast paths equal the plain
reference, and the hook blocks only proved pairs (through real git and real pre-commit)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import Hook, git, save
from dupgate_hook.compare import Pair
from dupgate_hook.main import main
from dupgate_hook.util import LFS_POINTER_PREFIX
from dupgate_hook.verify import agree, align, reference, verify_pictures
from dupgate_hook.verify.evidence import PROVED, REJECTED, UNVERIFIED
from dupgate_hook.verify.pixels import Pictures
from dupgate_hook.verify.stage import shortlist, verify_pairs
from pictures import picture


def _rgb(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _card(title: str) -> Image.Image:
    """One social-card template: same frame, logo and layout; only the title differs."""
    img = Image.new("RGB", (360, 200), (236, 240, 246))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 359, 36), fill=(30, 60, 120))
    d.ellipse((12, 6, 36, 30), fill=(250, 200, 40))
    for row in range(3):
        d.text((20, 60 + 34 * row), f"{title} {row}" * 3, fill=(20, 20, 20))
    return img


def test_masked_ncc_equals_the_plain_reference() -> None:
    rng = np.random.default_rng(7)
    fixed = (rng.normal(size=(14, 17)) + 1j * rng.normal(size=(14, 17))).astype(np.complex64)
    moving = (rng.normal(size=(11, 9)) + 1j * rng.normal(size=(11, 9))).astype(np.complex64)
    fast = align.ncc_map(align.Spectra(fixed, moving.shape), moving, min_overlap=0, rim=1)
    compared = 0
    for dy in range(-8, 12):
        for dx in range(-6, 15):
            overlap = (min(14, dy + 10) - max(0, dy + 1)) * (min(17, dx + 8) - max(0, dx + 1))
            slow = reference.ncc_at(fixed, moving, dy, dx, rim=1)
            value = fast[dy % fast.shape[0], dx % fast.shape[1]]
            if slow is None or overlap < 40 or not np.isfinite(value):
                continue  # tiny overlaps: both are rounding noise
            assert value == pytest.approx(slow, abs=1e-3), (dy, dx)
            compared += 1
    assert compared > 100


def test_best_overlay_equals_the_plain_reference() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        informative = rng.random((7, 9)) < 0.7
        agreeing = rng.random((7, 9)) < 0.6
        zero = np.zeros((7, 9), np.float32)
        cells = agree.CellMap(informative, agreeing, zero, zero, zero, zero)
        overlay = agree.best_overlay(cells)
        value = np.where(informative, np.where(agreeing, -2.0, 1.0), 0.0)
        r0, c0, r1, c1 = overlay.box
        found = float(value[r0:r1, c0:c1].sum()) if overlay.cells else 0.0
        assert found == pytest.approx(reference.best_overlay_value(value, agree.BANNER_MAX, agree.BLOB_MAX))


def test_a_crop_scaled_down_is_proved_with_its_geometry() -> None:
    original = picture(5, (480, 360))
    copy = original.crop((48, 36, 432, 324)).resize((192, 144))  # 80% of each side, then 0.5x
    evidence = verify_pictures(_rgb(original), _rgb(copy), original.size, copy.size)
    assert evidence.verdict == PROVED and evidence.rule == "structure"
    assert evidence.scale == pytest.approx(0.5, abs=0.04)
    x0, y0, x1, y1 = evidence.a_box
    assert (x1 - x0) == pytest.approx(0.8, abs=0.05) and x0 == pytest.approx(0.1, abs=0.04)
    assert evidence.agreement >= 0.95
    assert "cropped to" in evidence.sentence("a.png", "b.png")


def test_a_recolour_and_an_inverted_copy_are_proved() -> None:
    original = picture(9, (400, 300))
    swapped = Image.merge("RGB", original.split()[::-1])  # channel swap
    inverted = Image.eval(original, lambda v: 255 - v)  # a dark variant of a light design
    for copy in (swapped, inverted):
        evidence = verify_pictures(_rgb(original), _rgb(copy), original.size, copy.size)
        assert evidence.verdict == PROVED, evidence


def test_one_template_with_other_titles_is_rejected() -> None:
    a, b = _card("Spring release notes"), _card("Autumn sale starts now")
    evidence = verify_pictures(_rgb(a), _rgb(b), a.size, b.size)
    assert evidence.verdict == REJECTED
    assert evidence.sentence("a.png", "b.png").startswith("rejected:")


def test_one_grid_in_other_colours_is_rejected() -> None:
    """Mosaics of random tiles share every edge; only a colour map that no recolour is tells
    them apart (both agree on over 80% of their cells)."""

    def mosaic(seed: int) -> Image.Image:
        rng = np.random.default_rng(seed)
        tiles = rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)
        return Image.fromarray(tiles).resize((140, 100), Image.Resampling.NEAREST)

    for seed in (3521, 6676):
        a, b = mosaic(seed), mosaic(10001)
        assert verify_pictures(_rgb(a), _rgb(b), a.size, b.size).verdict == REJECTED
    a = mosaic(3521)
    swapped = Image.merge("RGB", a.split()[::-1])
    assert verify_pictures(_rgb(a), _rgb(swapped), a.size, a.size).verdict == PROVED


def test_distinct_pictures_are_rejected() -> None:
    a, b = picture(1), picture(2)
    assert verify_pictures(_rgb(a), _rgb(b), a.size, b.size).verdict == REJECTED


def test_cell_map_equals_the_plain_reference() -> None:
    from dupgate_hook.verify.fields import structure_field

    a = _rgb(picture(21, (96, 72))).astype(np.float32) / 255
    b = _rgb(picture(21, (96, 72)).rotate(2)).astype(np.float32) / 255
    fa, fb = structure_field(a), structure_field(b)
    fast = agree.cell_map(fa, fb, a, b)
    cell = a.shape[1] // fast.informative.shape[1]
    informative, agreeing, cosine = reference.cells_plain(
        fa.z, fb.z, fa.energy, fb.energy, cell, agree.EDGE_FLOOR, agree.AGREE_COSINE
    )
    assert fast.cosine == pytest.approx(cosine, abs=1e-4)
    assert (fast.informative == informative).all() and (fast.agree == agreeing).all()
    assert 0 < fast.agree.sum() < fast.agree.size  # the rotation leaves some cells disagreeing


def test_pieces_counts_one_caption_as_one_and_two_eyes_as_two() -> None:
    caption = np.zeros((6, 12), bool)
    caption[2, [1, 2, 4, 5, 7, 8]] = True  # letters a cell apart
    eyes = np.zeros((6, 12), bool)
    eyes[2:4, 1:3] = eyes[2:4, 8:10] = True
    assert agree.pieces(caption) == 1 and agree.pieces(eyes) == 2


def _commit_originals(repo: Path) -> None:
    (repo / ".dupgate.yaml").write_text("verify: true\n")  # opt-in while its recall is short
    save(picture(40, (480, 360)), repo / "hero.png")
    save(_card("Spring release notes"), repo / "card-spring.png")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "originals", "--no-verify")


def test_audit_reports_the_proof_and_leaves_template_siblings_out(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _commit_originals(repo)
    save(picture(40, (480, 360)).crop((0, 0, 384, 288)).resize((192, 144)), repo / "hero-small.png")
    save(_card("Autumn sale starts now"), repo / "card-autumn.png")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "more", "--no-verify")
    assert main(["audit", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["clusters"] == [["hero-small.png", "hero.png"]]
    (pair,) = report["pairs"]
    assert pair["evidence"]["verdict"] == "proved" and pair["evidence"]["agreement"] >= 0.95
    assert "hero-small.png is hero.png, cropped to" in pair["proof"]
    assert main(["audit"]) == 1
    text = capsys.readouterr().out
    assert "of the overlap agrees" in text
    assert main(["report", "--html", "page.html"]) == 0
    capsys.readouterr()
    page = (repo / "page.html").read_text()
    # the matched region outlined on both thumbnails: the crop's whole frame, 80% of the original
    regions = re.findall(r'class=region style="left:([\d.]+)%;top:([\d.]+)%;width:([\d.]+)%', page)
    assert len(regions) == 2 and sorted(float(w) for _, _, w in regions)[0] == pytest.approx(80, abs=4)
    (repo / ".dupgate.yaml").write_text("verify: false\n")  # the retrieval score alone, as before
    assert main(["audit", "--format", "json"]) == 1
    unverified = json.loads(capsys.readouterr().out)
    assert all("evidence" not in p for p in unverified["pairs"])


def test_a_dark_variant_is_retrieved_and_proved(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    light = picture(3, (400, 300))
    save(light, repo / "light.png")
    tinted = Image.eval(light, lambda v: 255 - v).convert("RGB")
    tinted = Image.blend(tinted, Image.new("RGB", tinted.size, (20, 30, 90)), 0.2)  # invert and tint
    save(tinted, repo / "dark.png")
    save(picture(4, (400, 300)), repo / "other.png")
    git(repo, "add", ".")
    assert main(["audit", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["clusters"] == [["dark.png", "light.png"]]
    assert report["pairs"][0]["evidence"]["verdict"] == "proved"
    (repo / ".dupgate.yaml").write_text("verify: false\n")  # the brightness maps alone miss it
    assert main(["audit", "--format", "json"]) == 0


def test_candidate_without_pixels_is_said_and_does_not_block(tmp_path: Path) -> None:
    original, copy = tmp_path / "hero.png", tmp_path / "hero-copy.png"
    save(picture(40, (480, 360)), original)
    save(picture(40, (480, 360)).resize((240, 180)), copy)
    pointer = tmp_path / "hero-lfs.png"  # what a clone without `git lfs pull` holds
    pointer.write_bytes(LFS_POINTER_PREFIX + b"https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n")
    keys = {"hero.png": "k1", "hero-copy.png": "k2"}
    pair = Pair("hero-copy.png", "hero.png", 0.99, False)
    files = {"hero.png": str(original), "hero-copy.png": str(copy)}
    with_pixels = verify_pairs([pair], keys, files, Pictures(None), 8)
    assert [p.evidence.verdict for p in with_pixels.proved if p.evidence] == [PROVED]
    files["hero.png"] = str(pointer)
    without = verify_pairs([pair], keys, files, Pictures(None), 8)
    assert without.proved == [] and without.rejected == []
    (note,) = without.unverified
    assert note.evidence is not None and note.evidence.verdict == UNVERIFIED
    assert "pixels unavailable" in note.evidence.sentence(pair.a, pair.b) and "hero.png" in note.evidence.rule


def test_each_image_keeps_at_most_its_limit_of_candidates() -> None:
    pairs = [Pair("new.png", f"old{i}.png", 0.99 - i / 100, False) for i in range(5)]
    kept, skipped = shortlist(pairs, 2)
    assert [p.b for p in kept] == ["old0.png", "old1.png"] and skipped == 3


@pytest.mark.slow
def test_hook_blocks_a_copy_with_its_proof_and_passes_a_template_sibling(hook: Hook, repo: Path) -> None:
    _commit_originals(repo)
    save(picture(40, (480, 360)).resize((240, 180)), repo / "hero-half.jpg", quality=75)
    git(repo, "add", "hero-half.jpg")
    proc = hook.try_repo("--files", "hero-half.jpg")
    assert "exit code: 1" in proc.stdout, proc.stdout
    assert "100% of the overlap agrees" in proc.stdout, proc.stdout
    git(repo, "rm", "-q", "--cached", "hero-half.jpg")
    save(_card("Autumn sale starts now"), repo / "card-autumn.png")
    git(repo, "add", "card-autumn.png")
    proc = hook.run("--files", "card-autumn.png")
    assert "exit code: 1" not in proc.stdout, proc.stdout
