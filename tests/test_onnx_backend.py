"""The `onnx` backend on tiny real models (built with onnx.helper) run by the real onnxruntime."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from conftest import PROJECT, picture
from dupgate_hook.backends import get_backend
from dupgate_hook.backends.base import BackendSettings, space_id
from dupgate_hook.backends.onnx_backend import IMAGENET_MEAN, IMAGENET_STD, OnnxBackend, short_side_size
from dupgate_hook.backends.onnx_model import FACTS_FILE
from dupgate_hook.errors import DupgateError
from onnx_models import conv_model, size_echo_model, sscd_like_model, two_output_model


def backend(path: Path, cache: Path | None = None, **settings: Any) -> OnnxBackend:
    cache_dir = str(cache) if cache else None
    made = get_backend(BackendSettings("onnx", model_path=str(path), cache_dir=cache_dir, **settings))
    assert isinstance(made, OnnxBackend)
    return made


def jpeg_copy(img: Image.Image, size: tuple[int, int], quality: int = 70) -> Image.Image:
    out = io.BytesIO()
    img.resize(size, Image.Resampling.LANCZOS).save(out, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def test_near_duplicates_score_higher_than_distinct_images(tmp_path: Path) -> None:
    b = backend(conv_model(tmp_path / "m.onnx"))
    originals = [picture(i) for i in range(8)]
    copies = [jpeg_copy(img, (200, 150)) for img in originals]
    v = b.embed(originals)
    assert v.shape == (8, b.dimensions) == (8, 512) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    scores = b.similarity(v, b.embed(copies))
    near = np.diag(scores)
    distinct = scores[~np.eye(8, dtype=bool)]
    assert near.min() > 0.95 > distinct.max(), (near.min(), distinct.max())
    assert near.min() > b.default_threshold > distinct.max()


def test_spatial_output_is_global_average_pooled(tmp_path: Path) -> None:
    """dupgate's pooling of a (N, C, H, W) output equals the model's own GlobalAveragePool."""
    spatial = backend(conv_model(tmp_path / "spatial.onnx", head="spatial", seed=3))
    in_graph = backend(conv_model(tmp_path / "gap.onnx", head="gap", seed=3))
    images = [picture(i) for i in range(5)]
    assert spatial.dimensions == in_graph.dimensions == 8
    np.testing.assert_allclose(spatial.embed(images), in_graph.embed(images), atol=1e-5)
    other = backend(conv_model(tmp_path / "gap4.onnx", head="gap", seed=4))
    assert not np.allclose(spatial.embed(images), other.embed(images), atol=1e-3)


def test_symbolic_input_size_defaults_to_224_and_follows_input_size(tmp_path: Path) -> None:
    model = conv_model(tmp_path / "any.onnx", head="spatial", side="S")
    default = backend(model)
    assert (default.facts.height, default.facts.width) == (224, 224)
    assert default.prepare(picture(1)).shape == (3, 224, 224)
    small = backend(model, input_size=(48, 64))
    assert small.prepare(picture(1)).shape == (3, 48, 64)
    assert small.model != default.model  # another input size is another vector space


def test_nhwc_models_are_fed_and_pooled_as_nhwc(tmp_path: Path) -> None:
    images = [picture(i) for i in range(4)]
    nchw = backend(conv_model(tmp_path / "nchw.onnx", seed=5)).embed(images)
    nhwc = backend(conv_model(tmp_path / "nhwc.onnx", seed=5, layout="nhwc"))
    assert nhwc.facts.layout == "nhwc" and nhwc.prepare(images[0]).shape == (32, 32, 3)
    np.testing.assert_allclose(nhwc.embed(images), nchw, atol=1e-5)
    gap = backend(conv_model(tmp_path / "gap.onnx", seed=5, head="gap")).embed(images)
    nhwc_map = backend(conv_model(tmp_path / "nhwc-map.onnx", seed=5, layout="nhwc", head="spatial"))
    np.testing.assert_allclose(nhwc_map.embed(images), gap, atol=1e-5)


def test_bgr_channel_order(tmp_path: Path) -> None:
    images = [picture(i) for i in range(4)]
    rgb = backend(conv_model(tmp_path / "rgb.onnx", seed=6)).embed(images)
    bgr_model = conv_model(tmp_path / "bgr.onnx", seed=6, reverse_channels=True)
    np.testing.assert_allclose(backend(bgr_model, channel_order="bgr").embed(images), rgb, atol=1e-5)
    assert not np.allclose(backend(bgr_model).embed(images), rgb, atol=1e-3)


def test_preprocessing_crops_or_stretches_and_normalises(tmp_path: Path) -> None:
    model = conv_model(tmp_path / "m.onnx")
    img = Image.new("RGB", (400, 200), (128, 128, 128))
    img.paste((255, 0, 0), (0, 0, 40, 200))  # a red stripe on the left tenth
    cropped = backend(model).prepare(img)
    stretched = backend(model, resize="stretch").prepare(img)
    grey = (128 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(cropped[:, 16, 16], grey, atol=1e-5)
    np.testing.assert_allclose(cropped[:, :, 0], grey[:, None] * np.ones((3, 32)), atol=1e-5)  # no red
    red = (np.array([255, 0, 0]) - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(stretched[:, 16, 0], red, atol=1e-5)
    custom = backend(model, mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0)).prepare(img)
    np.testing.assert_allclose(custom[:, 16, 16], [128 / 255] * 3, atol=1e-6)


def test_a_fixed_batch_size_is_padded(tmp_path: Path) -> None:
    images = [picture(i) for i in range(5)]
    one = backend(conv_model(tmp_path / "b1.onnx", seed=2, batch=1))
    two = backend(conv_model(tmp_path / "b2.onnx", seed=2, batch=2))
    free = backend(conv_model(tmp_path / "bn.onnx", seed=2)).embed(images)
    assert (one.facts.batch, two.facts.batch) == (1, 2)
    np.testing.assert_allclose(one.embed(images), free, atol=1e-5)
    np.testing.assert_allclose(two.embed(images), free, atol=1e-5)


def test_output_name_chooses_the_output(tmp_path: Path) -> None:
    model = two_output_model(tmp_path / "two.onnx")
    assert backend(model).dimensions == 4  # the first output: logits
    chosen = backend(model, output_name="features")
    assert chosen.dimensions == 512 and chosen.embed([picture(1)]).shape == (1, 512)
    with pytest.raises(DupgateError, match=r"^output_name: 'fc1' is not an output of .*'logits', 'features'"):
        backend(model, output_name="fc1")


def test_the_space_is_named_by_the_model_file_hash_and_preprocessing(tmp_path: Path) -> None:
    model = conv_model(tmp_path / "m.onnx")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    b = backend(model)
    assert b.model.startswith(digest[:12] + "-") and b.model_sha256 == digest
    assert space_id(b) == f"onnx-{b.model}-512"
    assert backend(model).model == b.model
    assert backend(model, mean=(0.0, 0.0, 0.0)).model != b.model
    assert backend(model, resize="stretch").model != b.model
    conv_model(model, seed=9)  # the same path, another model
    assert not backend(model).model.startswith(digest[:12])


def test_facts_are_cached_by_path_size_and_mtime(tmp_path: Path) -> None:
    model = conv_model(tmp_path / "m.onnx")
    cache = tmp_path / "cache"
    first = backend(model, cache)
    assert (cache / FACTS_FILE).is_file()
    again = backend(model, cache)
    assert again._session is None  # nothing was read or loaded: the facts came from the cache
    assert again.facts == first.facts
    np.testing.assert_allclose(again.embed([picture(1)]), first.embed([picture(1)]), atol=1e-6)
    conv_model(model, seed=8)
    os.utime(model, ns=(1, 1))
    changed = backend(model, cache)
    assert changed._session is not None and changed.model_sha256 != first.model_sha256
    (cache / FACTS_FILE).write_text("{not json")
    assert backend(model, cache).model == changed.model  # a damaged cache only costs time


def test_a_hand_edited_facts_cache_is_ignored_or_caught(tmp_path: Path) -> None:
    import json

    model = conv_model(tmp_path / "m.onnx")
    cache = tmp_path / "cache"
    backend(model, cache)
    path = cache / FACTS_FILE
    data = json.loads(path.read_text())
    [entry] = data["models"].values()
    [facts] = entry["facts"].values()
    facts["height"] = "tall"
    path.write_text(json.dumps(data))
    rebuilt = backend(model, cache)
    assert rebuilt._session is not None and rebuilt.facts.height == 32  # not trusted: read again
    data = json.loads(path.read_text())
    next(iter(next(iter(data["models"].values()))["facts"].values()))["dimensions"] = 7
    path.write_text(json.dumps(data))
    stale = backend(model, cache)
    assert stale.dimensions == 7
    stale_message = r"gave 512 values per image, expected 7; .* delete .*/onnx-models.json and run"
    with pytest.raises(DupgateError, match=stale_message):
        stale.embed([picture(1)])


def test_dimensions_and_model_settings_are_refused(tmp_path: Path) -> None:
    model = conv_model(tmp_path / "m.onnx")
    with pytest.raises(DupgateError, match=r"^dimensions: the onnx backend takes"):
        backend(model, dimensions=128)
    with pytest.raises(DupgateError, match=r"^model: the onnx backend names its model by `model_path`"):
        backend(model, model="resnet50")


def test_default_install_does_not_pull_onnxruntime() -> None:
    meta = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    assert not any("onnx" in dep for dep in meta["dependencies"])
    assert any(dep.startswith("onnxruntime") for dep in meta["optional-dependencies"]["onnx"])


def test_importing_the_backend_does_not_import_onnxruntime(tmp_path: Path) -> None:
    import subprocess

    probe = (
        "import sys; from dupgate_hook.backends.onnx_backend import OnnxBackend; "
        "from dupgate_hook.backends import get_backend; print('onnxruntime' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


# Copy-detection models (SSCD's signature): any height and width, resize short_side, uint8 inputs.

SHORT_64: dict[str, Any] = {"resize": "short_side", "input_size": (64, 64)}
ASPECTS = [(320, 240), (240, 320), (500, 120), (300, 300), (180, 120), (1200, 300)]


def test_short_side_near_duplicates_of_any_aspect_score_higher(tmp_path: Path) -> None:
    b = backend(sscd_like_model(tmp_path / "sscd.onnx"), **SHORT_64)
    assert (b.facts.dynamic_size, b.facts.dtype, b.facts.batch, b.dimensions) == (True, "float32", 1, 256)
    assert b.input_side == 256  # decoded up to the long-side cap, 4 short sides
    originals = [picture(i, ASPECTS[i % len(ASPECTS)]) for i in range(12)]
    copies = [jpeg_copy(img, (img.width * 2 // 3, img.height * 2 // 3)) for img in originals]
    v = b.embed(originals)
    assert v.shape == (12, 256) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    scores = b.similarity(v, b.embed(copies))
    near, distinct = np.diag(scores), scores[~np.eye(12, dtype=bool)]
    assert near.min() > 0.95 > distinct.max(), (near.min(), distinct.max())


def test_short_side_is_n_the_aspect_kept_and_the_long_side_capped(tmp_path: Path) -> None:
    b = backend(sscd_like_model(tmp_path / "sscd.onnx"), **SHORT_64)
    shapes = {size: b.prepare(picture(1, size)).shape for size in [*ASPECTS, (20, 30)]}
    assert shapes == {
        (320, 240): (3, 64, 85),
        (240, 320): (3, 85, 64),
        (500, 120): (3, 61, 256),  # 4.2:1, longer than the cap: long side 4 x 64, short below 64
        (300, 300): (3, 64, 64),
        (180, 120): (3, 64, 96),
        (1200, 300): (3, 64, 256),  # 4:1, at the cap
        (20, 30): (3, 96, 64),  # small pictures are scaled up
    }
    assert short_side_size(256, 64, 64) == (256, 64) and short_side_size(64, 257, 64) == (63, 256)
    with pytest.raises(DupgateError, match=r"^input_size: with resize: short_side it is one side .*48x64$"):
        backend(tmp_path / "sscd.onnx", resize="short_side", input_size=(48, 64))


@pytest.mark.parametrize(("layout", "batch"), [("nchw", 1), ("nhwc", "N")])
def test_the_model_runs_at_each_pictures_own_size(tmp_path: Path, layout: str, batch: int | str) -> None:
    """A model that returns the height and width it was fed; mixed sizes keep their rows."""
    model = size_echo_model(tmp_path / "echo.onnx", layout=layout, batch=batch)
    b = backend(model, resize="short_side", input_size=(48, 48))
    sizes = [(320, 240), (240, 320), (320, 240), (1000, 100), (48, 48), (321, 240)]
    v = b.embed([picture(i, size) for i, size in enumerate(sizes)])
    fed = np.round(v[:, :2] / v[:, 2:]).astype(int).tolist()
    assert fed == [[48, 64], [64, 48], [48, 64], [19, 192], [48, 48], [48, 64]]


def test_uint8_nhwc_models_get_raw_pixels(tmp_path: Path) -> None:
    images = [picture(i, ASPECTS[i]) for i in range(4)]
    floats = backend(sscd_like_model(tmp_path / "f.onnx", seed=3), **SHORT_64)
    raw = backend(sscd_like_model(tmp_path / "u8.onnx", seed=3, uint8_nhwc=True), **SHORT_64)
    assert (raw.facts.dtype, raw.facts.layout, raw.facts.dynamic_size) == ("uint8", "nhwc", True)
    fed = raw.prepare(images[0])
    assert fed.dtype == np.uint8 and fed.shape == (64, 85, 3)
    np.testing.assert_array_equal(fed, np.asarray(images[0].resize((85, 64), Image.Resampling.BILINEAR)))
    # the uint8 graph normalises by ImageNet mean/std itself: same vectors as the float model's
    np.testing.assert_allclose(raw.embed(images), floats.embed(images), atol=1e-5)
    bgr = backend(tmp_path / "u8.onnx", **SHORT_64, channel_order="bgr")
    np.testing.assert_array_equal(bgr.prepare(images[0]), fed[..., ::-1])


def test_uint8_fixed_size_models_crop_as_before(tmp_path: Path) -> None:
    model = sscd_like_model(tmp_path / "u8.onnx", uint8_nhwc=True)
    b = backend(model, input_size=(32, 32))
    assert b.prepare(picture(1)).shape == (32, 32, 3) and b.prepare(picture(1)).dtype == np.uint8
    assert b.embed([picture(1), picture(2)]).shape == (2, 256)


def test_space_ids_follow_the_new_facts_and_old_ids_stay(tmp_path: Path) -> None:
    model = sscd_like_model(tmp_path / "sscd.onnx")
    short = backend(model, **SHORT_64)
    assert short.model != backend(model, resize="crop", input_size=(64, 64)).model
    assert short.model != backend(model, resize="short_side", input_size=(96, 96)).model

    # the new facts are hashed into the id; a setup that worked before keeps its space's name
    # (the same hash as before this change: no forced rebuild on upgrade)
    def ends_with_hash_of(b: OnnxBackend, parts: list[object]) -> bool:
        return b.model.endswith("-" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:6])

    mean, std = ([round(float(np.float32(v)), 6) for v in vs] for vs in (IMAGENET_MEAN, IMAGENET_STD))
    old = [32, 32, mean, std, "rgb", "crop", "features"]
    assert ends_with_hash_of(backend(conv_model(tmp_path / "m.onnx")), old)
    u8 = backend(sscd_like_model(tmp_path / "u8.onnx", uint8_nhwc=True), input_size=(32, 32))
    assert ends_with_hash_of(u8, [*old[:6], "embeddings", ["uint8", True, 4]])
    assert ends_with_hash_of(short, [64, 64, *old[2:5], "short_side", "embeddings", ["float32", True, 4]])


def test_new_facts_are_cached_and_checked_from_the_cache(tmp_path: Path) -> None:
    model = sscd_like_model(tmp_path / "u8.onnx", uint8_nhwc=True)
    cache = tmp_path / "cache"
    first = backend(model, cache, **SHORT_64)
    again = backend(model, cache, **SHORT_64)
    assert again._session is None and again.facts == first.facts
    assert (again.facts.dtype, again.facts.dynamic_size) == ("uint8", True)
    with pytest.raises(DupgateError, match=r"^mean: .*u8.onnx's input 'image' takes tensor\(uint8\)"):
        backend(model, cache, **SHORT_64, mean=(0.0, 0.0, 0.0))
    fixed = conv_model(tmp_path / "fixed.onnx")
    backend(fixed, cache)  # cached as a fixed 32x32 model...
    with pytest.raises(DupgateError, match=r"^resize: short_side feeds pictures of any size"):
        backend(fixed, cache, resize="short_side", input_size=(32, 32))  # ...still refused from the cache
    data = json.loads((cache / FACTS_FILE).read_text())
    data["version"] = 1  # a cache written before dtype/dynamic_size existed is not trusted
    (cache / FACTS_FILE).write_text(json.dumps(data))
    assert backend(model, cache, **SHORT_64)._session is not None
