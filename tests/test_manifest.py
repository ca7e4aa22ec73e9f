"""Packs on disk: round trips, and hostile or broken files rejected without being trusted."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from dupgate_hook.errors import DupgateError
from dupgate_hook.manifest import PackStore, VectorTable

KEYS = [f"{i:040x}" for i in range(1, 4)]


def store(tmp_path: Path) -> PackStore:
    return PackStore(str(tmp_path / "space"), "local-test-4", 4, ".dupgate/vectors/local-test-4")


def unit_rows(n: int) -> np.ndarray:
    v = np.random.default_rng(0).normal(size=(n, 4))
    unit: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return unit


def test_round_trip_and_stable_name(tmp_path: Path) -> None:
    s = store(tmp_path)
    vectors = unit_rows(3)
    pack = s.write_pack(KEYS, vectors)
    assert s.write_pack(list(reversed(KEYS)), vectors[::-1]) == pack  # same keys, same file
    table = VectorTable(4)
    s.load(table)
    assert table.all_keys() == KEYS
    assert np.allclose(table.get(KEYS), vectors, atol=1e-3)
    assert not list((tmp_path / "space").glob(".tmp-*"))


class Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_object_array_is_never_unpickled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = store(tmp_path)
    pack = s.write_pack(KEYS, unit_rows(3))
    evil = np.empty((3, 4), dtype=object)
    evil[0, 0] = Boom()
    json_path, npz_path = s.pack_files(pack)
    np.savez(npz_path, vectors=evil, allow_pickle=True)
    assert b"PWNED" in Path(npz_path).read_bytes()  # the payload really is in the file
    with pytest.raises(DupgateError, match="unreadable vectors"):
        s.load(VectorTable(4))
    assert not (tmp_path / "PWNED").exists()
    assert pickle.dumps(1)  # (pickle itself still works: nothing was monkeypatched away)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda m: m.update(keys=m["keys"][:2]), "lists 2 keys"),
        (lambda m: m.update(schema=99), "unknown schema 99"),
        (lambda m: m.update(keys=["../../etc/passwd", *m["keys"][1:]]), "list of git blob ids"),
        (lambda m: m.update(dimensions=8), "belongs to space"),
        (lambda m: m.update(keys="nope"), "list of git blob ids"),
    ],
)
def test_inconsistent_json_is_rejected(tmp_path: Path, mutate: object, expected: str) -> None:
    s = store(tmp_path)
    pack = s.write_pack(KEYS, unit_rows(3))
    json_path, _ = s.pack_files(pack)
    meta = json.loads(Path(json_path).read_text())
    mutate(meta)  # type: ignore[operator]
    Path(json_path).write_text(json.dumps(meta))
    with pytest.raises(DupgateError, match=expected) as info:
        s.load(VectorTable(4))
    assert pack in str(info.value)


@pytest.mark.parametrize(
    "text", ['<<<<<<< HEAD\n{"schema": 1}\n=======\n{}\n>>>>>>> b\n', '{"schema": NaN}', "", "[1, 2"]
)
def test_broken_json_is_rejected(tmp_path: Path, text: str) -> None:
    s = store(tmp_path)
    pack = s.write_pack(KEYS, unit_rows(3))
    Path(s.pack_files(pack)[0]).write_text(text)
    with pytest.raises(DupgateError, match="unreadable pack metadata"):
        s.load(VectorTable(4))


def test_corrupt_or_non_finite_npz(tmp_path: Path) -> None:
    s = store(tmp_path)
    pack = s.write_pack(KEYS, unit_rows(3))
    npz = Path(s.pack_files(pack)[1])
    npz.write_bytes(npz.read_bytes()[:40])
    with pytest.raises(DupgateError, match="unreadable vectors"):
        s.load(VectorTable(4))
    bad = unit_rows(3)
    bad[1, 2] = np.nan
    np.savez(npz, vectors=bad)
    with pytest.raises(DupgateError, match="NaN or infinite"):
        s.load(VectorTable(4))
