"""The `onnx` backend on tiny real models (built with onnx.helper) run by the real onnxruntime."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import PROJECT, picture
from dupgate_hook.backends import get_backend
from dupgate_hook.backends.base import BackendSettings, space_id
from dupgate_hook.backends.onnx_backend import IMAGENET_MEAN, IMAGENET_STD, OnnxBackend
from dupgate_hook.backends.onnx_model import FACTS_FILE
from dupgate_hook.errors import DupgateError
from onnx_models import conv_model, two_output_model


def backend(path: Path, cache: Path | None = None, **settings: object) -> OnnxBackend:
    cache_dir = str(cache) if cache else None
    made = get_backend(BackendSettings("onnx", model_path=str(path), cache_dir=cache_dir, **settings))  # type: ignore[arg-type]
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
