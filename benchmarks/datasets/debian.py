"""Debian packages as image sources: `apt-get download` into CACHE/debs, `dpkg-deb -x` into
CACHE/x/<package>, once; later builds reuse the cache (and work offline)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from common import set_fonts

FONT_PACKAGES = ["fonts-dejavu-core", "fonts-liberation2"]
FONT_FILES = {
    "sans": "dejavu/DejaVuSans.ttf",
    "sans-bold": "dejavu/DejaVuSans-Bold.ttf",
    "serif": "dejavu/DejaVuSerif.ttf",
    "mono": "dejavu/DejaVuSansMono.ttf",
    "liberation-sans": "liberation2/LiberationSans-Regular.ttf",
    "liberation-serif": "liberation2/LiberationSerif-Regular.ttf",
    "liberation-mono": "liberation2/LiberationMono-Regular.ttf",
    "liberation-sans-bold": "liberation2/LiberationSans-Bold.ttf",
}
VERSIONS: dict[str, str] = {}  # package -> version actually used, for the labels and the README


def _deb(cache: Path, package: str) -> Path | None:
    found = sorted((cache / "debs").glob(f"{package}_*.deb"))
    return found[-1] if found else None


def package_root(cache: Path, package: str) -> Path:
    """The extracted tree of one package, downloading and extracting it if needed."""
    root = cache / "x" / package
    deb = _deb(cache, package)
    if deb is None:
        (cache / "debs").mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["apt-get", "download", package], cwd=cache / "debs", check=True, stdout=subprocess.DEVNULL
        )
        deb = _deb(cache, package)
        if deb is None:
            raise SystemExit(f"apt-get download {package} left no .deb in {cache / 'debs'}")
    if not (root / ".extracted").exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        (root / ".extracted").write_text(deb.name)
    VERSIONS[package] = deb.name.split("_")[1]
    return root


def installed_version(package: str) -> str:
    """The version of an installed Debian package a set renders with (chromium, librsvg2-bin),
    recorded with the source packages: the pixels depend on it too."""
    found = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    if found.returncode != 0 or not found.stdout:
        raise SystemExit(f"{package} is not installed: apt-get install -y {package}")
    VERSIONS[package] = found.stdout
    return found.stdout


def load_fonts(cache: Path) -> None:
    """Draw with fonts from the Debian packages, so every machine renders the same pixels."""
    roots = {p: package_root(cache, p) for p in FONT_PACKAGES}
    paths = {}
    for face, rel in FONT_FILES.items():
        pkg = "fonts-dejavu-core" if rel.startswith("dejavu") else "fonts-liberation2"
        paths[face] = roots[pkg] / "usr/share/fonts/truetype" / rel
    set_fonts({f: p for f, p in paths.items() if p.exists()})


def source_name(cache: Path, path: Path) -> str:
    """'package version: path inside the package' for labels.json's sources."""
    rel = path.relative_to(cache / "x")
    package = rel.parts[0]
    return f"{package} {VERSIONS.get(package, '?')}: /{'/'.join(rel.parts[1:])}"
