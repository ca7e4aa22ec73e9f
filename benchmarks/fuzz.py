"""Fuzz the three loaders that read what a repository (or a stranger) hands dupgate.

    python benchmarks/fuzz.py [--per-target 3400] [--seed 0] [--out DIR]

Targets, each fed `--per-target` generated inputs (the default makes 10,200 in all):

* `manifest`: `PackStore.read_pack` on a pack whose JSON and `.npz` are generated or mutated
  (wrong types, huge numbers, NaN, `../` keys, object arrays, odd dtypes and shapes, flipped,
  cut or spliced bytes of a valid pack);
* `config`: `config.parse_config` on generated or mutated `.dupgate.yaml` text (known keys
  with values of every YAML type, object-constructing tags, aliases, deep nesting, bytes);
* `image`: `images.decode` on mutated bytes of small PNG/JPEG/GIF/WebP files (bit flips,
  cuts, spliced chunks, rewritten header sizes).

Every input must end in success or in dupgate's own error (`DupgateError`, of which
`ImageError` is one); anything else is a *finding*, printed with the input saved under
`--out` to reproduce it. Exit status 1 when there are findings. Plain `random` with a seed
makes every run repeatable; `tests/test_hostile_inputs.py` runs a short version in CI.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dupgate_hook import config, images  # noqa: E402
from dupgate_hook.errors import DupgateError  # noqa: E402
from dupgate_hook.manifest import SCHEMA, PackStore  # noqa: E402

SPACE = "local-fuzz-8"
DIMS = 8
PACK_ID = "0123456789abcdef"
MAX_PIXELS = 4_000_000  # keeps a mutated header from making each input slow; same code path


# --- generic mutations --------------------------------------------------------------------


def mutate_bytes(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    """One to a few random edits of `data`: flips, overwrites, cuts, inserts, splices."""
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        op = rng.randrange(7)
        pos = rng.randrange(len(out) + 1)
        if op == 0 and out:  # flip a bit
            i = min(pos, len(out) - 1)
            out[i] ^= 1 << rng.randrange(8)
        elif op == 1 and out:  # overwrite with an interesting byte
            i = min(pos, len(out) - 1)
            out[i] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op == 2:  # cut the tail
            del out[pos:]
        elif op == 3:  # delete a run
            del out[pos : pos + rng.randint(1, 64)]
        elif op == 4:  # insert random bytes
            out[pos:pos] = rng.randbytes(rng.randint(1, 32))
        elif op == 5:  # duplicate a run (repeated chunks, fields)
            run = bytes(out[pos : pos + rng.randint(1, 256)])
            out[pos:pos] = run * rng.randint(1, 4)
        else:  # splice in a piece of another seed
            other = rng.choice(corpus)
            start = rng.randrange(len(other) + 1)
            out[pos:pos] = other[start : start + rng.randint(1, 512)]
    return bytes(out)


def random_json_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(10 if depth < 3 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice((True, False))
    if kind == 2:
        return rng.choice((0, 1, -1, SCHEMA, DIMS, 2**63, -(2**70), 10**400, rng.randrange(-1000, 1000)))
    if kind == 3:
        return rng.choice((0.5, -0.0, 1e308, 1e-320, math.nan, math.inf, -math.inf, float(DIMS)))
    if kind in (4, 5, 6):
        return rng.choice(
            (
                "",
                SPACE,
                "../../etc/passwd",
                "/abs/path.png",
                "a" * 40,
                "0" * 40,
                "\u0000",
                "é" * 5,
                "x" * rng.randint(0, 300),
            )
        )
    if kind in (7, 8):
        return [random_json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {
        str(random_json_value(rng, 3)): random_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))
    }


# --- target: the manifest loader ----------------------------------------------------------


def random_key(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def random_array(rng: random.Random, rows: int) -> np.ndarray:
    kind = rng.randrange(12)
    shape: tuple[int, ...] = (rows, DIMS)
    if kind == 0:
        shape = rng.choice(((), (rows,), (rows, DIMS, 2), (rows + 1, DIMS), (rows, DIMS - 1), (0, DIMS)))
    dtype = rng.choice(
        ("float16", "float16", "float32", "float64", "int8", "uint16", "bool", "complex64", "U3", "V4")
    )
    if kind == 1:  # an object array: must be refused, never unpickled
        arr = np.empty(shape, dtype=object)
        arr[...] = rng.choice((None, "x", 1.0))
        return arr
    if kind == 2:
        return np.zeros(shape, dtype=[("a", "f4"), ("b", "i2")])
    values = np.random.default_rng(rng.getrandbits(32)).normal(size=shape)
    if kind == 3 and values.size:
        values.flat[rng.randrange(max(1, values.size))] = rng.choice((np.nan, np.inf, -np.inf, 1e30))
    try:
        with np.errstate(all="ignore"):
            return values.astype(dtype)
    except (TypeError, ValueError):
        return values.astype("float16")


def manifest_inputs(rng: random.Random) -> Callable[[int], tuple[bytes, bytes]]:
    valid_keys = [random_key(rng) for _ in range(3)]
    valid_json = json.dumps(
        {"schema": SCHEMA, "space": SPACE, "dimensions": DIMS, "keys": valid_keys}
    ).encode()
    valid_npz = npz_bytes(vectors=np.ones((3, DIMS), np.float16))
    corpus = [valid_json, valid_npz]

    def make(i: int) -> tuple[bytes, bytes]:
        mode = i % 6
        meta: dict[str, object] = {"schema": SCHEMA, "space": SPACE, "dimensions": DIMS}
        rows = rng.choice((0, 1, 3, 5))
        meta["keys"] = [random_key(rng) for _ in range(rows)]
        if mode == 0:  # structured: one or two fields replaced, dropped or added
            for _ in range(rng.randint(1, 2)):
                field = rng.choice(("schema", "space", "dimensions", "keys", "extra"))
                if rng.random() < 0.2:
                    meta.pop(field, None)
                elif field == "keys" and rng.random() < 0.6:
                    old = meta.get("keys")
                    keys = list(old) if isinstance(old, list) else []
                    keys.insert(rng.randint(0, len(keys)), random_json_value(rng, 2))
                    meta["keys"] = keys
                else:
                    meta[field] = random_json_value(rng)
            text = json.dumps(meta) if rng.random() < 0.9 else json.dumps(random_json_value(rng))
            return text.encode(), npz_bytes(vectors=np.ones((rows, DIMS), np.float16))
        if mode == 1:  # valid JSON, hostile or odd vectors
            arrays = {"vectors": random_array(rng, rows)}
            if rng.random() < 0.2:
                arrays = {rng.choice(("other", "vectors2", "pickle")): arrays["vectors"]}
            if rng.random() < 0.2:
                arrays["extra"] = random_array(rng, 1)
            return json.dumps(meta).encode(), npz_bytes(**arrays)
        if mode == 2:  # mutated bytes of a valid JSON
            return mutate_bytes(rng, valid_json, corpus), valid_npz
        if mode == 3:  # mutated bytes of a valid npz
            return valid_json, mutate_bytes(rng, valid_npz, corpus)
        if mode == 4:  # both mutated
            return mutate_bytes(rng, valid_json, corpus), mutate_bytes(rng, valid_npz, corpus)
        # odd texts: conflict markers, deep nesting, NaN literals, not UTF-8, empty
        raw = rng.choice(
            (
                b"<<<<<<< HEAD\n" + valid_json + b"\n=======\n" + valid_json + b"\n>>>>>>> b\n",
                b"[" * rng.randint(1, 100_000),
                valid_json.replace(b"3", b"NaN", 1),
                b'{"schema": 1e999}',
                b"\xff\xfe" + valid_json,
                b"",
                valid_json + b"garbage",
            )
        )
        return raw, valid_npz

    return make


def check_manifest(store: PackStore, data: tuple[bytes, bytes]) -> None:
    json_path, npz_path = store.pack_files(PACK_ID)
    Path(json_path).write_bytes(data[0])
    Path(npz_path).write_bytes(data[1])
    keys, vectors = store.read_pack(PACK_ID)
    if vectors.shape != (len(keys), DIMS) or not np.isfinite(vectors).all():
        raise AssertionError(f"read_pack accepted a bad pack: {vectors.shape}, {len(keys)} keys")


# --- target: the config parser ------------------------------------------------------------

CONFIG_SEEDS = [
    "backend: local\nthreshold: 0.9\ninclude: ['static/**']\nexclude: ['**/thumbs/*']\n",
    "allow:\n- {a: 'img/*.png', b: 'img/*@2x.png', reason: retina}\non_error: warn\n",
    "max_image_pixels: 100000000\nbackend: gemini\nmodel: m\ndimensions: 768\ntimeout_seconds: 5\n",
    "base_url: http://localhost:1\nmax_retries: 3\n",
    "",
]
TAGS = [
    "!!python/object/apply:os.system ['echo pwned']",
    "!!python/name:os.system",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!timestamp 2001-12-14",
    "!!float .nan",
    "!!int 0x7fffffffffffffffffff",
    "!custom x",
    ".inf",
    "~",
    "yes",
    "1e400",
    "'\\u0000'",
]


def yaml_scalar(rng: random.Random) -> str:
    return rng.choice(
        (
            repr(rng.uniform(-2, 2)),
            str(rng.randrange(-(2**40), 2**40)),
            rng.choice(TAGS),
            "[a, b, 1]",
            "{a: 1}",
            "'x'",
            "&a [*a]",
            "*undefined",
            '"\\ud800"',
            "[" * 200 + "]" * 200,
        )
    )


def config_inputs(rng: random.Random) -> Callable[[int], bytes]:
    seeds = [s.encode() for s in CONFIG_SEEDS]
    keys = [*config._FIELDS, "unknown", "Backend", "", "? [complex]"]

    def make(i: int) -> bytes:
        mode = i % 4
        if mode == 0:  # known and unknown keys with values of every kind
            lines = [f"{rng.choice(keys)}: {yaml_scalar(rng)}" for _ in range(rng.randint(1, 5))]
            return "\n".join(lines).encode()
        if mode == 1:  # random YAML of random structure
            value = random_json_value(rng)
            return json.dumps(value, allow_nan=True).encode()
        if mode == 2:
            return mutate_bytes(rng, rng.choice(seeds), seeds)
        return rng.choice(
            (
                b"a: &a [" + b"*a, " * 50 + b"]\nallow: *a\n",
                b"x: " + b"[" * rng.randint(100, 1500),
                b"- " * rng.randint(1, 1500) + b"x",
                b"\xef\xbb\xbfbackend: local\n",
                b"backend: local\n---\nbackend: gemini\n",
                b"\t" + rng.randbytes(rng.randint(0, 40)),
                b"%YAML 1.1\n%TAG ! tag:yaml.org,2002:python/\n---\n!object:os.system x\n",
            )
        )

    return make


def check_config(data: bytes) -> None:
    config.parse_config(data.decode("utf-8", "surrogateescape"))


# --- target: the image decoder ------------------------------------------------------------


def image_seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    seeds = []
    for img, fmt, kwargs in (
        (rgb, "PNG", {}),
        (rgb.convert("P"), "PNG", {"transparency": 0}),
        (rgb.convert("LA"), "PNG", {}),
        (rgb.convert("I;16"), "PNG", {}),
        (rgb, "JPEG", {"quality": 80}),
        (rgb, "JPEG", {"progressive": True}),
        (rgb.convert("CMYK"), "JPEG", {}),
        (rgb, "WEBP", {"quality": 80}),
        (rgb, "WEBP", {"lossless": True}),
        (rgb.convert("P"), "GIF", {}),
        (
            rgb.convert("P"),
            "GIF",
            {"save_all": True, "append_images": [rgb.rotate(90).convert("P")], "duration": 50},
        ),
    ):
        buf = io.BytesIO()
        img.save(buf, fmt, **kwargs)
        seeds.append(buf.getvalue())
    return seeds


def rewrite_png_size(rng: random.Random, data: bytes) -> bytes:
    """A PNG whose IHDR claims another size, with the CRC fixed so only the size lies."""
    import struct
    import zlib

    if not data.startswith(b"\x89PNG") or len(data) < 33:
        return data
    width = rng.choice((0, 1, 2**31 - 1, 65535, rng.randrange(1, 5000)))
    height = rng.choice((0, 1, 2**31 - 1, 65535, rng.randrange(1, 5000)))
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return data[:12] + bytes(ihdr) + crc + data[33:]


def image_inputs(rng: random.Random) -> Callable[[int], bytes]:
    seeds = image_seeds()

    def make(i: int) -> bytes:
        seed = seeds[i % len(seeds)]
        if i % 10 == 0:
            return rewrite_png_size(rng, seed)
        return mutate_bytes(rng, seed, seeds)

    return make


def check_image(data: bytes) -> None:
    loaded = images.decode("fuzz.img", data, 64, MAX_PIXELS)
    if loaded.image.mode != "RGB" or max(loaded.image.size) > 64:
        raise AssertionError(f"decode returned {loaded.image.mode} {loaded.image.size}")


# --- the runner ---------------------------------------------------------------------------


def run(
    per_target: int, seed: int, workdir: Path, out: Path | None = None, verbose: bool = False
) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Feed `per_target` inputs to each target; per-target counts and the findings."""
    rng = random.Random(seed)
    folder = workdir / "vectors" / SPACE
    folder.mkdir(parents=True, exist_ok=True)
    store = PackStore(str(folder), SPACE, DIMS, "fuzz")
    make_manifest = manifest_inputs(rng)
    make_config = config_inputs(rng)
    make_image = image_inputs(rng)
    targets: list[tuple[str, Callable[[int], Any], Callable[[Any], None]]] = [
        ("manifest", make_manifest, lambda d: check_manifest(store, d)),
        ("config", make_config, check_config),
        ("image", make_image, check_image),
    ]
    counts: dict[str, dict[str, int]] = {}
    findings: list[str] = []
    for name, make, check in targets:
        tally = {"tried": 0, "ok": 0, "clean_error": 0, "findings": 0, "slowest_ms": 0}
        for i in range(per_target):
            data = make(i)
            started = time.perf_counter()
            try:
                check(data)
                tally["ok"] += 1
            except DupgateError as exc:
                tally["clean_error"] += 1
                if "\n" in str(exc):
                    findings.append(f"{name} #{i}: multi-line error: {str(exc)[:200]!r}")
                    tally["findings"] += 1
            except Exception as exc:  # a finding: not dupgate's own error
                tally["findings"] += 1
                where = _save(out, name, i, data)
                findings.append(f"{name} #{i}: {type(exc).__name__}: {str(exc)[:200]}{where}")
                if verbose:
                    traceback.print_exc()
            elapsed = int((time.perf_counter() - started) * 1000)
            tally["slowest_ms"] = max(tally["slowest_ms"], elapsed)
            tally["tried"] += 1
        counts[name] = tally
    return counts, findings


def _save(out: Path | None, name: str, i: int, data: object) -> str:
    if out is None:
        return ""
    out.mkdir(parents=True, exist_ok=True)
    parts = data if isinstance(data, tuple) else (data,)
    paths = []
    for n, part in enumerate(parts):
        path = out / f"{name}-{i}-{n}.bin"
        path.write_bytes(part)
        paths.append(str(path))
    return f" (input: {', '.join(paths)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-target", type=int, default=3400, help="inputs per target (default 3400)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"), help="where failing inputs go")
    parser.add_argument("--verbose", action="store_true", help="print a traceback per finding")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        counts, findings = run(args.per_target, args.seed, Path(tmp), args.out, args.verbose)
    total = sum(c["tried"] for c in counts.values())
    print(f"fuzz: {total} inputs in {time.perf_counter() - started:.1f} s (seed {args.seed})")
    for name, c in counts.items():
        print(
            f"  {name:9} tried {c['tried']:6}  ok {c['ok']:6}  clean error {c['clean_error']:6}  "
            f"findings {c['findings']:4}  slowest {c['slowest_ms']} ms"
        )
    for line in findings:
        print("FINDING " + line)
    print(f"{len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
