"""A site owner's first week (issue 14): the README's flow, step by step, in real repositories."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import Hook, git, hook_exit, picture, run, save
from dupgate_hook.main import main


def dupgate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "dupgate_hook", *args], cwd, check=False)


def commit_through_hook(hook: Hook, repo: Path, message: str) -> subprocess.CompletedProcess[str]:
    """`git commit`; on exit 3, `git add .dupgate` and commit again, as the README says."""
    first = hook.commit(message)
    if first.returncode != 0 and "exit code: 3" in first.stdout:
        git(repo, "add", ".dupgate")
        return hook.commit(message)
    return first


def _record(repo: Path, message: str) -> None:
    """Commit what is in the work tree with its vectors (exit 3, stage .dupgate, commit)."""
    git(repo, "add", ".")
    assert main(["check"]) == 3
    git(repo, "add", ".dupgate")
    git(repo, "commit", "-qm", message, "--no-verify")


def test_skip_is_once_later_commits_are_not_blocked_by_the_skipped_pair(hook: Hook, repo: Path) -> None:
    hook.install()
    git(repo, "add", ".pre-commit-config.yaml")
    save(picture(1400), repo / "img" / "hero.png")
    git(repo, "add", "img")
    assert commit_through_hook(hook, repo, "hero").returncode == 0
    save(picture(1400).resize((160, 120)), repo / "img" / "hero-small.jpg", quality=85)
    git(repo, "add", "img")
    assert hook.commit("small copy").returncode != 0  # blocked, as it should be
    skip_env = {**hook.env, "SKIP": "dupgate"}
    skipped = run(["git", "commit", "-qm", "skip once"], repo, env=skip_env, check=False)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    # A rename of the skipped image adds nothing: recorded, said in one line, not blocked.
    git(repo, "mv", "img/hero-small.jpg", "img/hero-thumb.jpg")
    first = hook.commit("rename")
    assert "exit code: 1" not in first.stdout, first.stdout
    assert "committed earlier without vectors" in first.stdout
    git(repo, "add", ".dupgate")
    assert hook.commit("rename").returncode == 0
    # An unrelated image is not blocked either.
    save(picture(1401), repo / "img" / "team.png")
    git(repo, "add", "img")
    assert commit_through_hook(hook, repo, "team").returncode == 0
    # ...but the pair is still reported by the audits.
    audit = hook.run("--all-files")
    assert hook_exit(audit) == 1 and "img/hero-thumb.jpg" in audit.stdout, audit.stdout
    assert dupgate(repo, "audit").returncode == 1


def test_skipped_pair_does_not_block_unrelated_images_in_split_calls(
    hook: Hook, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sequential calls of one commit (as pre-commit splits long lists) agree with one call."""
    save(picture(1410), repo / "a.png")
    save(picture(1410).resize((200, 150)), repo / "a-copy.jpg", quality=70)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "skipped pair", "--no-verify")
    for i in range(4):
        save(picture(1411 + i), repo / f"new{i}.png")
    git(repo, "add", ".")
    assert main(["check", "new0.png", "new1.png"]) == 3
    assert main(["check", "new2.png", "new3.png"]) == 3
    git(repo, "add", ".dupgate")
    assert main(["check", "new0.png", "new1.png"]) == 0
    assert main(["check", "new2.png", "new3.png"]) == 0
    # A copy added now is this commit's addition: blocked whichever call gets it.
    save(picture(1412).resize((150, 110)), repo / "new1-copy.jpg", quality=85)
    git(repo, "add", "new1-copy.jpg")
    capsys.readouterr()
    assert main(["check", "new0.png"]) == 1
    assert "new1-copy.jpg" in capsys.readouterr().out


def test_direct_check_judges_the_staged_content(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save(picture(1420), repo / "photo.png")
    _record(repo, "photo")
    save(picture(1420).resize((200, 150)), repo / "copy.jpg", quality=70)
    git(repo, "add", "copy.jpg")
    save(picture(1421), repo / "copy.jpg", quality=70)  # the work tree now differs from the index
    capsys.readouterr()
    assert main(["check"]) == 1
    assert "copy.jpg  <->  photo.png" in capsys.readouterr().out
    assert main(["check", "copy.jpg"]) == 1
    # The distinct work-tree picture was not recorded under the staged blob's key.
    git(repo, "add", "copy.jpg")
    assert main(["check", "copy.jpg"]) == 3


def test_default_hook_has_no_gemini_sdk_and_says_which_hook_does(hook: Hook, repo: Path) -> None:
    (repo / ".dupgate.yaml").write_text("backend: gemini\n")
    save(picture(1430), repo / "a.png")
    git(repo, "add", ".")
    hook.env["GEMINI_API_KEY"] = "AIzaFAKE-not-used"
    result = hook.run("--files", "a.png")
    assert hook_exit(result) == 2, result.stdout
    errors = [line for line in result.stdout.splitlines() if line.startswith("dupgate: error:")]
    assert len(errors) == 1, result.stdout
    assert "pip install 'dupgate-hook[gemini]'" in errors[0] and "dupgate-gemini" in errors[0]


def test_commit_all_is_told_how_to_stage_the_manifest(hook: Hook, repo: Path) -> None:
    """`git commit -a` never stages the new .dupgate files: the exit-3 message says what works."""
    hook.install()
    git(repo, "add", ".pre-commit-config.yaml")
    save(picture(1440), repo / "logo.png")
    git(repo, "add", "logo.png")
    assert commit_through_hook(hook, repo, "logo").returncode == 0
    save(picture(1441), repo / "logo.png")  # edited: `git commit -a` stages it
    first = run(["git", "commit", "-a", "-m", "new logo"], repo, env=hook.env, check=False)
    out = first.stdout + first.stderr
    assert first.returncode != 0 and "exit code: 3" in out
    again = run(["git", "commit", "-a", "-m", "new logo"], repo, env=hook.env, check=False)
    assert again.returncode != 0  # the loop: -a does not stage new files
    told = [line for line in (again.stdout + again.stderr).splitlines() if "git commit -a" in line]
    assert told, again.stdout + again.stderr
    command = told[0].split(": ", 1)[1].rstrip(")").replace("...", "-m 'new logo'")
    done = run(["sh", "-c", command], repo, env=hook.env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, "status", "--porcelain").stdout == ""


def printed(out: str, start: str) -> list[str]:
    """The copy-paste command lines of `out` that start with `start` (after any label)."""
    found = []
    for line in out.splitlines():
        at = line.find(start)
        if at >= 0:
            found.append(line[at:].strip().rstrip(")"))
    return found


def test_printed_commands_work_from_a_subfolder(hook: Hook, repo: Path) -> None:
    hook.install()
    git(repo, "add", ".pre-commit-config.yaml")
    sub = repo / "content" / "posts"
    sub.mkdir(parents=True)
    save(picture(1450), sub / "cover.png")
    git(repo, "add", "content")
    first = run(["git", "commit", "-m", "cover"], sub, env=hook.env, check=False)
    out = first.stdout + first.stderr
    assert "exit code: 3" in out, out
    [stage] = [c for c in printed(out, "git ") if "commit -a" not in c]
    assert run(["sh", "-c", stage], sub, env=hook.env, check=False).returncode == 0
    assert run(["git", "commit", "-m", "cover"], sub, env=hook.env, check=False).returncode == 0
    # A blocked copy: the printed `dupgate allow` and its `git add` work from here too.
    save(picture(1450).resize((200, 150)), sub / "cover-small.jpg", quality=70)
    git(repo, "add", "content")
    blocked = run(["git", "commit", "-m", "copy"], sub, env=hook.env, check=False)
    [allow] = printed(blocked.stdout + blocked.stderr, "dupgate allow ")
    accepted = dupgate(sub, *allow.split()[1:4], "--reason", "the thumbnail")
    assert accepted.returncode == 0, accepted.stderr
    [stage] = printed(accepted.stdout, "git ")
    assert run(["sh", "-c", stage], sub, env=hook.env, check=False).returncode == 0
    init = dupgate(sub, "update")
    [stage] = printed(init.stdout, "git ")
    assert run(["sh", "-c", stage], sub, env=hook.env, check=False).returncode == 0
    assert commit_through_hook(hook, repo, "copy").returncode == 0


def test_update_says_which_unjudged_pairs_it_records(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save(picture(1460), repo / "a.png")
    _record(repo, "a")
    save(picture(1460).resize((200, 150)), repo / "a-copy.jpg", quality=70)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "skipped copy", "--no-verify")
    capsys.readouterr()
    assert main(["update"]) == 0
    out = capsys.readouterr().out
    assert "recorded as the baseline" not in out
    assert "1 near-duplicate pair(s) in the repository are neither allowed nor in the baseline" in out
    assert "a-copy.jpg  <->  a.png" in out
    assert "the pairs were not accepted" in out
    git(repo, "add", ".dupgate")
    git(repo, "commit", "-qm", "vectors", "--no-verify")
    assert main(["update"]) == 0  # nothing to embed now: the pair is still said
    assert "a-copy.jpg  <->  a.png" in capsys.readouterr().out
    save(picture(1460).resize((300, 225)), repo / "a-third.png")
    git(repo, "add", "a-third.png")
    assert main(["check", "a-third.png"]) == 1  # update accepted nothing


def test_include_glob_matching_nothing_is_said(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".dupgate.yaml").write_text('include: ["static/**", "img/*"]\n')
    save(picture(1470), repo / "img" / "a.png")
    git(repo, "add", ".")
    assert main(["audit"]) == 0
    err = capsys.readouterr().err
    assert "include: 'static/**' matches no tracked image" in err and "img/*" not in err


def test_readme_shows_how_to_see_warnings_under_pre_commit(hook: Hook, repo: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    assert "on_error: warn" in section and "verbose: true" in section
    hook.install("    verbose: true\n")  # as the README says
    git(repo, "add", ".pre-commit-config.yaml")
    (repo / ".dupgate.yaml").write_text("on_error: warn\n")
    save(picture(1480), repo / "good.png")
    git(repo, "add", ".")
    assert commit_through_hook(hook, repo, "good").returncode == 0
    (repo / "broken.png").write_bytes(b"not a png at all")
    git(repo, "add", "broken.png")
    passed = hook.commit("broken")
    assert passed.returncode == 0, passed.stdout
    assert "warning: broken.png" in passed.stdout


def test_allow_of_a_pair_below_the_threshold_says_so(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save(picture(1490), repo / "a.png")
    save(picture(1491), repo / "b.png")
    git(repo, "add", ".")
    assert main(["allow", "a.png", "b.png", "--reason", "looks alike to me"]) == 0
    captured = capsys.readouterr()
    # the threshold is the candidate threshold: with verification on, 0.50 for the local backend
    assert "(score " in captured.out and "threshold 0.50" in captured.out
    assert "below the threshold 0.50: it is not reported anyway" in captured.err
    save(picture(1490).resize((200, 150)), repo / "a-small.png")
    git(repo, "add", ".")
    assert main(["allow", "a.png", "a-small.png", "--reason", "thumbnail"]) == 0
    captured = capsys.readouterr()
    assert "threshold 0.50)" in captured.out and "below the threshold" not in captured.err


def test_update_outside_a_repository_names_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["update"]) == 2
    assert "dupgate update must run inside a git repository" in capsys.readouterr().err


def test_baseline_is_said_once(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save(picture(1500), repo / "a.png")
    save(picture(1500).resize((200, 150)), repo / "a-copy.jpg", quality=70)
    rng = np.random.default_rng(14)
    for i in range(6):  # noise: nearest-neighbour scores below the calibration's floor
        Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(repo / f"noise{i}.png")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "before dupgate")
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(["audit"]) == 0
    out = capsys.readouterr().out
    assert "baseline: score" in out and "baseline: baseline:" not in out
    assert main(["calibrate"]) == 0
    out = capsys.readouterr().out
    assert "baseline: baseline:" not in out
    lowest = next(line.split()[1] for line in out.splitlines() if line.strip().startswith("below "))
    assert f"they count as 'below {lowest}'" in out  # the histogram and the text agree


def test_calibration_page_does_not_ask_for_itself(repo: Path, tmp_path: Path) -> None:
    for i in range(4):
        save(picture(1510 + i), repo / f"p{i}.png")
    save(picture(1510).resize((200, 150)), repo / "p0-copy.jpg", quality=70)
    git(repo, "add", ".")
    page = tmp_path / "cal.html"
    done = dupgate(repo, "calibrate", "--threshold", "0.95", "--html", str(page))  # a suggestion
    assert done.returncode == 0, done.stderr
    assert "dupgate calibrate --html" not in page.read_text()
    plain = dupgate(repo, "calibrate")
    assert "dupgate calibrate --html calibrate.html" in plain.stdout  # the terminal still says how


def test_html_report_is_readable_and_shows_the_next_step(hook: Hook, repo: Path) -> None:
    (repo / ".dupgate.yaml").write_text("html_report: dupgate-report.html\n")
    save(picture(1520), repo / "hero.png")
    _record(repo, "hero")
    save(picture(1520).resize((200, 150)), repo / "hero copy.jpg", quality=70)
    git(repo, "add", ".")
    assert hook_exit(hook.run("--files", "hero copy.jpg")) == 1
    page = repo / "dupgate-report.html"
    assert page.stat().st_mode & 0o777 == 0o644  # the umask's normal mode (022 here)
    text = page.read_text()
    assert "dupgate allow &#x27;hero copy.jpg&#x27; hero.png --reason &quot;...&quot;" in text
    new = text.split("new in this commit")
    assert len(new) == 2 and "hero copy.jpg" in new[1].split("</figcaption>")[0]


README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def readme_block(heading: str, lang: str = "yaml") -> str:
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
    return section.split(f"```{lang}\n", 1)[1].split("```", 1)[0]


def test_readme_install_names_a_tag_the_release_process_makes() -> None:
    import tomllib

    from dupgate_hook import __version__

    project = Path(__file__).resolve().parent.parent
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "dupgate_hook.__version__"}
    version = __version__  # one place, so pyproject and the package agree by construction
    config = readme_block("## Install in a site repository")
    assert f"rev: v{version}\n" in config
    release = README.split("### Releasing", 1)[1].split("\n## ", 1)[0]
    assert f"git tag -a v{version}" in release
    install = README.split("## Install in a site repository", 1)[1].split("### Releasing", 1)[0]
    assert f"pipx install 'git+https://github.com/dupgate/dupgate-hook@v{version}'" in install
    assert "pip install 'dupgate-hook @ git+" in install


def test_commands_run_through_pre_commit_alone(hook: Hook, repo: Path) -> None:
    for i in range(3):
        save(picture(1530 + i), repo / "img" / f"p{i}.png")
    save(picture(1530).resize((200, 150)), repo / "img" / "p0-small.jpg", quality=70)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "before dupgate")
    for hook_id in ("dupgate-init", "dupgate-audit"):
        hook.hook_id = hook_id
        proc = hook.try_repo("--hook-stage", "manual")
        if hook_id == "dupgate-init":
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "1 existing near-duplicate pair(s) recorded as the baseline" in proc.stdout
            assert " add .dupgate" in proc.stdout  # verbose: what to stage is shown
            git(repo, "add", ".dupgate")
        else:
            assert proc.returncode == 0, proc.stdout + proc.stderr  # the baseline accepts the pair
            assert "1 accepted pair(s)" in proc.stdout


def test_readme_install_and_commit_flow_as_written(hook: Hook, repo: Path) -> None:
    """The README's config (only the URL points at this checkout, tagged as Releasing says)."""
    from dupgate_hook import __version__

    run(["git", "tag", "-f", f"v{__version__}", hook.rev], hook.path)
    config = readme_block("## Install in a site repository")
    (repo / ".pre-commit-config.yaml").write_text(
        config.replace("https://github.com/dupgate/dupgate-hook", str(hook.path))
    )
    run([sys.executable, "-m", "pre_commit", "install"], repo, env=hook.env)
    git(repo, "add", ".pre-commit-config.yaml")
    for i in range(3):
        save(picture(1540 + i), repo / "img" / f"photo{i}.png")
    git(repo, "add", "img")
    first = hook.commit("add photos")  # step 2: exit 3, the printed command, commit again
    assert first.returncode != 0 and "exit code: 3" in first.stdout, first.stdout
    [stage] = [c for c in printed(first.stdout, "git ") if "commit -a" not in c]
    run(["sh", "-c", stage], repo, env=hook.env)
    assert hook.commit("add photos").returncode == 0
    save(picture(1540).resize((160, 120)), repo / "img" / "photo0-small.jpg", quality=85)
    git(repo, "add", "img")
    blocked = hook.commit("add small copy")  # step 3
    assert "exit code: 1" in blocked.stdout and "img/photo0-small.jpg  <->  img/photo0.png" in blocked.stdout
    skip_env = {**hook.env, "SKIP": "dupgate"}
    assert run(["git", "commit", "-m", "once"], repo, env=skip_env, check=False).returncode == 0
    save(picture(1543), repo / "img" / "photo3.png")  # step 4: the next commit is not blocked
    git(repo, "add", "img")
    assert commit_through_hook(hook, repo, "unrelated").returncode == 0
    audit = run(  # the README's on-demand command, with the README's config
        [sys.executable, "-m", "pre_commit", "run", "dupgate-audit", "--hook-stage", "manual", "--verbose"],
        repo,
        env=hook.env,
        check=False,
    )
    assert hook_exit(audit) == 1 and "img/photo0-small.jpg" in audit.stdout, audit.stdout
