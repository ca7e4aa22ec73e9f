"""Reports people look at: the HTML page in real headless Chromium, SARIF against its schema,
calibration, and terminal output (colour only on a terminal)."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from PIL import Image

from chromium import Browser
from conftest import Hook, git, hook_exit, picture, run, save, stage_and_record
from dupgate_hook.calibrate import _suggest
from dupgate_hook.main import main

HOSTILE = "<img src=x onerror=alert(1)>.png"
SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


def dupgate(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "dupgate_hook", *args], repo, env=env, check=False)


def make_site(repo: Path) -> None:
    """Two near-duplicate pairs (one with a hostile file name) and two distinct images."""
    base, other = picture(1), picture(2)
    save(base, repo / "img" / "orig.png")
    save(base.resize((200, 150)), repo / "img" / "small.jpg", quality=85)
    save(other, repo / "img" / HOSTILE)
    save(other.convert("RGB"), repo / "img" / "copy.jpg", quality=80)
    save(picture(3), repo / "img" / "distinct.png")
    save(picture(4, (300, 300)), repo / "img" / "square.png")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as b:
        yield b


def audit_json(repo: Path) -> dict[str, object]:
    proc = dupgate(repo, "audit", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    body: dict[str, object] = json.loads(proc.stdout)
    return body


def test_html_report_in_chromium(repo: Path, browser: Browser, tmp_path: Path) -> None:
    make_site(repo)
    git(repo, "add", "-A")
    pairs = audit_json(repo)["pairs"]
    assert isinstance(pairs, list) and len(pairs) == 2
    out = tmp_path / "report.html"
    proc = dupgate(repo, "report", "--html", str(out))
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    text = out.read_text(encoding="utf-8")
    assert "<img src=x onerror" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in text

    browser.open(out)
    assert browser.evaluate("document.querySelectorAll('.pair').length") == len(pairs)
    assert browser.evaluate("document.querySelectorAll('section.cluster').length") == 2
    loaded = browser.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(loaded) == 2 * len(pairs) + 4  # two per pair row, plus each cluster's strip
    assert all(done and w > 0 and h > 0 for done, w, h in loaded), loaded
    assert browser.evaluate(f"document.body.innerText.includes({json.dumps(HOSTILE)})")
    assert browser.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert not browser.console_and_errors()
    scores = browser.evaluate("[...document.querySelectorAll('.pair')].map(p => +p.dataset.score)")
    assert scores == sorted(scores, reverse=True)  # clusters of one pair each: best first
    assert browser.evaluate("getComputedStyle(document.querySelector('.pair')).display") == "grid"
    side_by_side = (
        "(() => { const f = document.querySelectorAll('.pair figure'); "
        "return f[0].getBoundingClientRect().top === f[1].getBoundingClientRect().top })()"
    )
    assert browser.evaluate(side_by_side)

    shot = Image.open(io.BytesIO(browser.screenshot())).convert("RGB")
    pixels = np.asarray(shot, dtype=np.float32)
    assert shot.width >= 1000 and pixels.std() > 20  # not a blank page
    non_white = (pixels.min(axis=2) < 200).mean()
    assert non_white > 0.05, non_white

    browser.open(out, width=390, height=844, mobile=True)  # a phone
    assert browser.evaluate("document.documentElement.scrollWidth") <= 390
    assert not browser.evaluate(side_by_side)  # stacked, one above the other


def test_accepted_pairs_fold_away(repo: Path, browser: Browser, tmp_path: Path) -> None:
    make_site(repo)
    git(repo, "add", "-A")
    assert main(["allow", "img/orig.png", "img/small.jpg", "--reason", "the <b>thumbnail</b>"]) == 0
    out = tmp_path / "r.html"
    assert dupgate(repo, "audit", "--html", str(out)).returncode == 1  # the other pair still counts
    browser.open(out)
    assert browser.evaluate("document.querySelectorAll('section.cluster .pair').length") == 1
    assert browser.evaluate("document.querySelectorAll('details.accepted .pair').length") == 1
    assert browser.evaluate("document.querySelector('details.accepted').open") is False
    assert browser.evaluate("document.querySelector('details.accepted .reason').textContent") == (
        "allowed: the <b>thumbnail</b>"
    )


def test_blocked_commit_writes_page_when_configured(repo: Path, hook: Hook) -> None:
    save(picture(1), repo / "orig.png")
    (repo / ".dupgate.yaml").write_text("html_report: true\n")
    stage_and_record(repo)
    page = repo / ".git" / "dupgate" / "report.html"
    assert not page.exists()  # clean commits write none
    save(picture(1).resize((160, 120)), repo / "small.jpg", quality=80)
    git(repo, "add", "small.jpg")
    result = hook.run()
    assert hook_exit(result) == 1
    assert f"side-by-side report: {page}" in result.stdout
    text = page.read_text(encoding="utf-8")
    assert "orig.png" in text and "small.jpg" in text and text.count('class="pair"') == 1


def test_bad_html_report_setting(repo: Path) -> None:
    (repo / ".dupgate.yaml").write_text("html_report: 3\n")
    proc = dupgate(repo, "audit")
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == "dupgate: error: .dupgate.yaml: html_report must be true, false or a file path, not int"
    )


def test_unwritable_html_path_is_one_line(repo: Path, tmp_path: Path) -> None:
    make_site(repo)
    git(repo, "add", "-A")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = dupgate(repo, "report", "--html", str(blocker / "r.html"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "r.html" in proc.stderr, proc.stderr


def sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_sarif_is_valid_and_complete(repo: Path) -> None:
    make_site(repo)
    (repo / "img" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    git(repo, "add", "-A")
    assert main(["allow", "img/orig.png", "img/small.jpg", "--reason", "thumbnail"]) == 0
    proc = dupgate(repo, "audit", "--format", "sarif")
    assert proc.returncode == 2  # the broken image
    log = json.loads(proc.stdout)
    validator = sarif_validator()
    validator.validate(log)
    results = log["runs"][0]["results"]
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_rule.setdefault(r["ruleId"], []).append(r)
    assert len(by_rule["DG001"]) == 2 and len(by_rule["DG003"]) == 1
    suppressed = [r for r in by_rule["DG001"] if r.get("suppressions")]
    assert len(suppressed) == 1 and "thumbnail" in suppressed[0]["suppressions"][0]["justification"]
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in results
        for loc in r["locations"] + r.get("relatedLocations", [])
    }
    assert "img/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.png" in uris
    assert "img/broken.png" in uris
    # GitHub code scanning places a result only where a region gives a start line
    assert all(
        loc["physicalLocation"]["region"] == {"startLine": 1} for r in results for loc in r["locations"]
    )
    # the schema check is not a rubber stamp: a log without a tool is refused
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"version": "2.1.0", "runs": [{"results": []}]})


def test_sarif_from_split_hook_calls_is_merged(repo: Path, tmp_path: Path) -> None:
    """pre-commit may split --all-files over calls; the file must end with every call's results."""
    for seed in (1, 2):
        save(picture(seed), repo / f"a{seed}.png")
        save(picture(seed).resize((160, 120)), repo / f"b{seed}.jpg", quality=80)
    git(repo, "add", "-A")
    out = tmp_path / "dupgate.sarif"
    assert main(["check", "--sarif", str(out), "a1.png"]) == 1
    assert main(["check", "--sarif", str(out), "a2.png"]) == 1
    pairs = {
        tuple(
            sorted(
                (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["properties"]["other"])
            )
        )
        for r in json.loads(out.read_text())["runs"][0]["results"]
    }
    assert pairs == {("a1.png", "b1.jpg"), ("a2.png", "b2.jpg")}
    sarif_validator().validate(json.loads(out.read_text()))
    os.remove(repo / "b2.jpg")  # another state of the repository: the old results go
    git(repo, "add", "-A")
    assert main(["check", "--sarif", str(out), "a1.png", "a2.png"]) == 1
    assert len(json.loads(out.read_text())["runs"][0]["results"]) == 1


def test_html_page_from_split_hook_calls_shows_every_call(repo: Path, tmp_path: Path) -> None:
    """Like SARIF: the page of a run split over hook calls (e.g. --all-files) shows every call's pairs."""
    for seed in (1, 2):
        save(picture(seed), repo / f"a{seed}.png")
        save(picture(seed).resize((160, 120)), repo / f"b{seed}.jpg", quality=80)
    save(picture(3), repo / "c.png")
    git(repo, "add", "-A")
    assert main(["init", "--no-baseline"]) == 0  # recorded, pairs not accepted
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "images", "--no-verify")
    page = tmp_path / "page.html"
    record = repo / ".git" / "dupgate" / "report-record.json"

    def shown() -> set[str]:
        text = page.read_text()
        return {name for name in ("a1.png", "b1.jpg", "a2.png", "b2.jpg", "c.png") if name in text}

    assert main(["check", "--html", str(page), "a1.png", "c.png"]) == 1
    assert shown() == {"a1.png", "b1.jpg"}
    assert main(["check", "--html", str(page), "a2.png"]) == 1
    assert shown() == {"a1.png", "b1.jpg", "a2.png", "b2.jpg"}, "the second call hid the first's pair"
    record.write_text("{broken")  # an unreadable record is replaced, never fatal
    assert main(["check", "--html", str(page), "a2.png"]) == 1
    assert shown() == {"a2.png", "b2.jpg"}
    recorded = json.loads(record.read_text())["report"]["pairs"]
    assert [(p["a"], p["b"]) for p in recorded] == [("a2.png", "b2.jpg")]
    assert main(["check", "--html", str(page), "a1.png"]) == 1
    assert shown() == {"a1.png", "b1.jpg", "a2.png", "b2.jpg"}
    os.remove(repo / "b1.jpg")  # another state of the repository: the earlier pairs go
    git(repo, "add", "-A")
    assert main(["check", "--html", str(page), "a2.png"]) == 1
    assert shown() == {"a2.png", "b2.jpg"}


def test_sarif_through_pre_commit_all_files(repo: Path, hook: Hook) -> None:
    save(picture(5), repo / "one.png")
    save(picture(5).resize((200, 150)), repo / "two.jpg", quality=85)
    save(picture(6), repo / "three.png")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "images", "--no-verify")
    hook.env["DUPGATE_SARIF"] = "dupgate.sarif"
    result = hook.run("--all-files")
    assert hook_exit(result) == 1
    log = json.loads((repo / "dupgate.sarif").read_text())
    sarif_validator().validate(log)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["DG001"]


def test_calibrate_terminal_and_page(repo: Path, browser: Browser, tmp_path: Path) -> None:
    for seed in range(10, 20):
        save(picture(seed), repo / "img" / f"p{seed}.png")
    for seed in (10, 11, 12):
        save(picture(seed).resize((200, 150)), repo / "img" / f"p{seed}-small.jpg", quality=80)
    git(repo, "add", "-A")
    out = tmp_path / "cal.html"
    proc = dupgate(repo, "calibrate", "--html", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "Nearest-neighbour score of each image (13 images):"
    marked = [line for line in lines if "<- threshold 0.50" in line]  # the candidate threshold
    assert len(marked) == 1 and marked[0].split()[0] == "0.500-0.525"
    bins = [re.match(r"\s+(below \S+|\d\.\d{3}-\d\.\d{3})\s+(\d+)", line) for line in lines[1:]]
    counts = [int(m.group(2)) for m in bins if m]
    assert sum(counts) == 13 and len(counts) >= 10
    assert any(line.startswith(("Suggested", "No clear gap")) for line in lines)
    assert "Pairs just at or above the threshold (reported):" in proc.stdout
    browser.open(out)
    assert browser.evaluate("document.querySelectorAll('svg rect').length") >= 10
    assert browser.evaluate("document.querySelectorAll('.pair').length") >= 3
    loaded = browser.evaluate("[...document.images].map(i => i.naturalWidth)")
    assert loaded and all(w > 0 for w in loaded)
    browser.open(out, width=390, height=844, mobile=True)  # the reasoning wraps on a phone
    assert browser.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.mark.parametrize(
    ("nearest", "expected"),
    [
        ([0.30, 0.35, 0.40, 0.95, 0.97, 0.99], 0.76),  # everything in the window is empty
        ([0.60, 0.66, 0.70, 0.80, 0.85, 0.90, 0.99], 0.75),  # the 0.70-0.80 stretch
        (list(np.arange(0.50, 1.0, 0.01)), 0.76),  # no gap: the default
    ],
)
def test_suggestion(nearest: list[float], expected: float) -> None:
    suggested, why = _suggest(np.array(nearest), (0.64, 0.88), 0.76, 0.54)
    assert suggested == pytest.approx(expected)
    assert why and why[0].startswith("Suggested" if expected != 0.76 or nearest[3] > 0.9 else "No clear gap")


def run_in_pty(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run with stdout and stderr on a terminal, as a person at a shell sees it."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_colour_only_on_a_terminal_and_never_with_no_color(repo: Path) -> None:
    make_site(repo)
    git(repo, "add", "-A")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")} | {"TERM": "xterm"}
    cmd = [sys.executable, "-m", "dupgate_hook", "audit"]
    on_tty = run_in_pty(cmd, repo, env)
    assert "\x1b[1;31m" in on_tty and "cluster 1" in on_tty
    assert "\x1b[" not in run_in_pty(cmd, repo, env | {"NO_COLOR": "1"})
    piped = dupgate(repo, "audit", env=env)
    assert piped.returncode == 1 and "\x1b[" not in piped.stdout + piped.stderr
    # columns: the second path starts at the same place on every line of a cluster
    rows = [line for line in piped.stdout.splitlines() if "<->" in line]
    assert len({line.index("<->") for line in rows}) == 1


def test_progress_bar_only_on_a_terminal(repo: Path) -> None:
    for seed in range(3):
        save(picture(seed), repo / f"p{seed}.png")
    git(repo, "add", "-A")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"TERM": "xterm"}
    on_tty = run_in_pty([sys.executable, "-m", "dupgate_hook", "init"], repo, env)
    assert "embedding (local) [" in on_tty and "3/3" in on_tty
    for folder in (repo / ".dupgate", repo / ".git" / "dupgate" / "cache"):
        shutil.rmtree(folder)  # so the second run embeds again
    piped = dupgate(repo, "init", env=env)
    assert piped.returncode == 0 and "[" not in piped.stderr


def test_thumbnails_show_transparent_art(tmp_path: Path) -> None:
    """A white glyph on a transparent canvas is shown as the local backend compares it, not as a
    blank white tile."""
    import base64

    from PIL import ImageDraw

    from dupgate_hook.html_report import Thumbs

    glyph = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
    ImageDraw.Draw(glyph).ellipse((20, 20, 100, 100), fill=(255, 255, 255, 255))
    glyph.save(tmp_path / "glyph.png")
    thumb = Thumbs(lambda p: str(tmp_path / p), 10**8)["glyph.png"]
    assert thumb.data_uri is not None
    shown = Image.open(io.BytesIO(base64.b64decode(thumb.data_uri.split(",", 1)[1]))).convert("L")
    assert np.asarray(shown, dtype=float).std() > 50
